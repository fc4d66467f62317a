# Image for the web process and the Celery workers of docker-compose.yml.
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY shop_clip ./shop_clip
RUN pip install --no-cache-dir ".[server]"
COPY demo_project ./demo_project
COPY manage.py ./
EXPOSE 8000
CMD ["gunicorn", "demo_project.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3"]
