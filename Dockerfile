# The Qianbiao image: web (gunicorn), Celery worker and beat, and the one-shot migrate
# service of docker-compose.yml all run it. Nothing secret is baked in: every secret
# arrives through the environment at run time.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system --gid 1000 qianbiao \
    && useradd --system --uid 1000 --gid qianbiao --home-dir /app --shell /usr/sbin/nologin qianbiao

WORKDIR /app

# Dependencies first, so that a code change reuses this layer: the runtime ones of
# pyproject.toml (not the dev extra), each at the version requirements.lock pins (as a
# constraint, so that every transitive package is pinned too).
COPY pyproject.toml requirements.lock ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -c requirements.lock -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# The project itself, installed editable exactly as bin/run and bin/test do: platform/
# is a source root (never a package, so the stdlib platform module stays first) and the
# templates, translations and static files are used in place.
COPY . .
RUN pip install --no-deps -e .

# Static files are collected at build time and served by WhiteNoise. Settings refuse to
# load in production without secrets, so this one step gets throw-away values that
# never leave this RUN line.
ENV QIANBIAO_VAR_DIR=/app/var \
    STATIC_ROOT=/app/staticfiles \
    DJANGO_SETTINGS_MODULE=qianbiao.settings
RUN QIANBIAO_ENV=build \
    SECRET_KEY=collectstatic-only \
    PII_ENCRYPTION_KEYS=collectstatic-only \
    PII_LOOKUP_KEY=collectstatic-only \
    python manage.py collectstatic --noinput -v 0 \
    && rm -rf "$QIANBIAO_VAR_DIR" \
    && mkdir -p "$QIANBIAO_VAR_DIR" \
    && chown qianbiao:qianbiao "$QIANBIAO_VAR_DIR"

USER qianbiao
EXPOSE 8000
CMD ["gunicorn", "--config", "python:qianbiao.gunicorn_conf", "qianbiao.wsgi:application"]
