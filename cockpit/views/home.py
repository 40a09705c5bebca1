"""Cockpit pages."""
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from engine.models import HistoricProcessInstance, Incident, Job, ProcessDefinition, ProcessInstance
from engine.selectors import visible


@login_required
def home(request: HttpRequest) -> HttpResponse:
    user = request.user
    context = {
        "definitions": visible(ProcessDefinition, user).count(),
        "running": visible(ProcessInstance, user).count(),
        "finished": visible(HistoricProcessInstance, user).filter(end_time__isnull=False).count(),
        "failed_jobs": visible(Job, user).filter(retries=0).count(),
        "incidents": visible(Incident, user).count(),
    }
    return render(request, "cockpit/home.html", context)
