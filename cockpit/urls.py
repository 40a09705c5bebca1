"""Top-level URL routes: Cockpit pages, Django admin, the engine REST API and its OpenAPI document."""
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularJSONAPIView

from cockpit import views

urlpatterns = [
    path("", views.home, name="home"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("engine-rest/openapi.json", SpectacularJSONAPIView.as_view(), name="openapi"),
    path("engine-rest/", include("batches.rest.urls")),
    path("engine-rest/", include("engine.rest.urls")),
]
