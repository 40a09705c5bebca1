"""URL routes of the batch REST API (mounted at /engine-rest/ before the engine's routes)."""
from django.urls import path

from batches.operations import ENDPOINTS
from batches.rest import views

urlpatterns = [
    *[
        path(route, views.BatchCreate.as_view(operation=operation), name=f"batch-create-{route}")
        for route, operation in ENDPOINTS.items()
    ],
    path("batch", views.BatchList.as_view()),
    path("batch/count", views.BatchCount.as_view()),
    path("batch/statistics", views.BatchStatistics.as_view()),
    path("batch/statistics/count", views.BatchStatisticsCount.as_view()),
    path("batch/<str:pk>", views.BatchDetail.as_view()),
    path("batch/<str:pk>/suspended", views.BatchSuspended.as_view()),
    path("batch/<str:pk>/items", views.BatchItems.as_view()),
    path("history/batch", views.HistoricBatchList.as_view()),
    path("history/batch/count", views.HistoricBatchCount.as_view()),
    path("history/batch/<str:pk>", views.HistoricBatchDetail.as_view()),
    path("history/batch/<str:pk>/items", views.BatchItems.as_view()),
]
