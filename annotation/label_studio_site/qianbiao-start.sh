#!/bin/sh
# The compose image's command: migrations and the admin (as `label-studio start` makes
# them), then Label Studio's application through our WSGI entry point under gunicorn.
set -e
cd /label-studio
python3 /qianbiao-site/qianbiao_bootstrap.py
exec gunicorn qianbiao_label_studio_wsgi:application \
  --bind 0.0.0.0:8080 --workers "${LABEL_STUDIO_WORKERS:-2}" --worker-class gthread --threads 8 \
  --timeout 300 --graceful-timeout 5 --limit-request-line 8190 --access-logfile -
