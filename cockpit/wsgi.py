"""WSGI entry point (gunicorn cockpit.wsgi)."""
import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cockpit.settings")
application = get_wsgi_application()

# What starting made (Django, the apps, their modules) lives as long as the process. Frozen, the
# garbage collector's full collections stop scanning it again whenever a request has allocated
# many objects: the batch statistics of 1,000 running batches had 65-130 ms pauses on a ~33 ms
# request (bench/RESULTS.md, seventh session; bench/read_paths.py freezes the same way).
gc.freeze()
