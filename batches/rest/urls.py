"""URL routes of the batch REST API (mounted at /engine-rest/ before the engine's routes)."""
from django.urls import path

from batches.models import Batch, HistoricBatch
from batches.operations import ENDPOINTS
from batches.rest import dtos, retry_views, sync, views
from batches.rest import webhook_views
from batches.rest import pacing_views
from batches.selectors import BATCH, HISTORIC_BATCH
from engine.rest.base import query_resource
from engine.rest import history_views

BatchList, BatchCount = query_resource("Batch", BATCH, Batch, dtos.batch_dto)
HistoricBatchList, HistoricBatchCount = query_resource("HistoricBatch", HISTORIC_BATCH, HistoricBatch, dtos.historic_batch_dto)

urlpatterns = [
    *[
        path(route, views.BatchCreate.as_view(operation=operation), name="batch-create-" + route.replace("<str:", "{").replace(">", "}"))
        for route, operation in ENDPOINTS.items()
    ],
    path("migration/generate", sync.MigrationGenerate.as_view()),
    path("migration/validate", sync.MigrationValidate.as_view()),
    path("migration/execute", sync.MigrationExecute.as_view()),
    path("process-definition/<str:processDefinitionId>/restart", sync.ProcessDefinitionRestart.as_view()),
    path("batch", BatchList.as_view()),
    path("batch/count", BatchCount.as_view()),
    path("batch/statistics", views.BatchStatistics.as_view()),
    path("batch/statistics/count", views.BatchStatisticsCount.as_view()),
    path("batch/<str:pk>/items/retry", retry_views.BatchItemsRetry.as_view()),  # ours: retry as a new batch
    path("batch/<str:pk>/throttle", pacing_views.BatchThrottle.as_view()),  # ours (batches.pacing)
    path("batch/<str:pk>/schedule", pacing_views.BatchSchedule.as_view()),
    path("batch/<str:pk>", views.BatchDetail.as_view()),
    path("batch/<str:pk>/suspended", views.BatchSuspended.as_view()),
    path("batch/<str:pk>/items", views.BatchItems.as_view()),
    path("batch/<str:pk>/webhook-deliveries", webhook_views.BatchWebhookDeliveries.as_view()),
    path("history/batch", HistoricBatchList.as_view()),
    path("history/batch/count", HistoricBatchCount.as_view()),
    # Fixed segments before history/batch/{id} (engine.rest.history_views).
    path("history/batch/cleanable-batch-report", history_views.CleanableBatchReport.as_view()),
    path("history/batch/cleanable-batch-report/count", history_views.CleanableBatchReportCount.as_view()),
    path("history/batch/<str:pk>", views.HistoricBatchDetail.as_view()),
    path("history/batch/<str:pk>/items", views.BatchItems.as_view()),
]
