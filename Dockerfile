# One image for every Paperboy process (web, worker, beat, migrations); the command picks the role.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    OPENBLAS_NUM_THREADS=1 \
    PIP_NO_CACHE_DIR=1 \
    PAPERBOY_INSTANCE_DIR=/var/lib/paperboy

RUN apt-get update && apt-get install -y --no-install-recommends libgomp1 curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 1000 paperboy \
    && mkdir -p /var/lib/paperboy && chown paperboy /var/lib/paperboy

WORKDIR /app
COPY pyproject.toml README.md ./
COPY service ./service
COPY workers ./workers
COPY templates ./templates
# editable: templates/ sits beside service/ in /app, where the code finds it
RUN pip install -e ".[monitoring]"

USER paperboy
EXPOSE 8000
CMD ["gunicorn", "-c", "python:service.gunicorn_conf", "service:create_app()"]
