# Image for the web process and the Celery workers of docker-compose.yml.
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# Production settings (`manage.py check --deploy` is clean with them): HTTPS only, behind a TLS-terminating
# proxy that sets X-Forwarded-Proto.  DJANGO_SECRET_KEY is never baked in: the settings refuse to start without it.
ENV DJANGO_DEBUG=0 \
    DJANGO_HTTPS=1 \
    DJANGO_SECURE_PROXY_SSL_HEADER=1 \
    DJANGO_SECURE_HSTS_SECONDS=31536000 \
    DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS=1 \
    DJANGO_SECURE_HSTS_PRELOAD=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY shop_clip ./shop_clip
RUN pip install --no-cache-dir ".[server]"
COPY demo_project ./demo_project
COPY manage.py ./
EXPOSE 8000
CMD ["gunicorn", "demo_project.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3"]
