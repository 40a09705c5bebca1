"""Top-level URL routes: Cockpit pages, Django admin, the engine REST API and its OpenAPI document."""
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularJSONAPIView

from cockpit.throttle import ThrottledLoginForm
from cockpit.views import retry
from cockpit.views import pacing
from cockpit.views import definitions, home, instances, metrics, migration, monitoring, wizard
from engine.rest import reserved

urlpatterns = [
    path("", home.home, name="home"),
    path("cockpit/batch/operation", wizard.define, name="wizard"),
    path("cockpit/batch/operation/confirm", wizard.confirm, name="wizard-confirm"),
    path("cockpit/batch/operation/execute", wizard.execute, name="wizard-execute"),
    path("cockpit/batch/operation/result/<str:token>", wizard.result, name="wizard-result"),
    path("cockpit/migration", migration.migration_page, name="migration"),
    path("cockpit/process-definition", definitions.definition_list, name="definitions"),
    path("cockpit/process-definition/<str:definition_id>", definitions.definition_detail, name="definition"),
    path("cockpit/process-instance/<str:instance_id>", instances.instance_detail, name="instance"),
    path("cockpit/batch", monitoring.batch_list, name="batches"),
    path("cockpit/batch/<str:batch_id>", monitoring.batch_detail, name="batch-detail"),
    path("cockpit/batch/<str:batch_id>/suspend", monitoring.batch_suspend, name="batch-suspend"),
    path("cockpit/batch/<str:batch_id>/throttle", pacing.batch_throttle, name="batch-throttle"),
    path("cockpit/batch/<str:batch_id>/schedule", pacing.batch_schedule, name="batch-schedule"),
    path("cockpit/batch/<str:batch_id>/retry", monitoring.batch_retry, name="batch-retry"),
    path("cockpit/batch/<str:batch_id>/items/retry", retry.batch_items_retry, name="batch-items-retry"),
    path("cockpit/batch/<str:batch_id>/delete", monitoring.batch_remove, name="batch-delete"),
    path("cockpit/batch/<str:batch_id>/jobs/<str:job_id>/delete", monitoring.job_delete, name="batch-job-delete"),
    path("cockpit/batch/<str:batch_id>/jobs/<str:job_id>/log", monitoring.job_log, name="batch-job-log"),
    path("cockpit/batch/<str:batch_id>/items.csv", monitoring.items_csv, name="batch-items-csv"),
    path("cockpit/batch/<str:batch_id>/progress.json", monitoring.batch_progress, name="batch-progress"),
    path("cockpit/batch/<str:batch_id>/history/delete", monitoring.history_remove, name="batch-history-delete"),
    path("accounts/login/", auth_views.LoginView.as_view(authentication_form=ThrottledLoginForm), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("metrics", metrics.metrics, name="metrics"),
    path("engine-rest/openapi.json", SpectacularJSONAPIView.as_view(), name="openapi"),
    path("engine-rest/", include(reserved.reserved_urlpatterns)),
    path("engine-rest/", include("batches.rest.urls")),
    path("engine-rest/", include("engine.rest.urls")),
    path("engine-rest/", include(reserved.fallback_urlpatterns)),
]
