# medimg API image: FastAPI app + the committed TensorFlow SavedModel.
#   docker build -t medimg-api .
#   docker run -p 8000:8000 medimg-api          (SQLite + blobs in /var/lib/medimg)
# docker-compose.yml runs it against PostgreSQL, next to the SPA.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TF_CPP_MIN_LOG_LEVEL=2

WORKDIR /app

# Dependencies first, from pyproject.toml alone, so that code changes do not re-download
# TensorFlow. (The wheels bundle their native libraries; slim needs no apt packages.)
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
 && pip install --no-cache-dir -r /tmp/requirements.txt \
 && rm /tmp/requirements.txt

# The project itself (non-editable; setuptools needs the README named in pyproject.toml).
COPY README.md ./
COPY api ./api
COPY ml ./ml
RUN pip install --no-cache-dir --no-deps . \
 && rm -rf build *.egg-info

COPY models ./models

# Unprivileged runtime user; /var/lib/medimg holds the SQLite file and the image blobs and is
# where docker-compose mounts its volume (a new named volume copies this ownership).
RUN useradd --uid 10001 --user-group --create-home --shell /usr/sbin/nologin medimg \
 && install -d -o medimg -g medimg /var/lib/medimg /var/lib/medimg/blobs

# Defaults for a standalone container; every one can be overridden with -e / compose.
ENV MEDIMG_DATABASE_URL=sqlite:////var/lib/medimg/medimg.db \
    MEDIMG_STORAGE_DIR=/var/lib/medimg/blobs \
    MEDIMG_MODEL_DIR=/app/models/brain-tumor-cnn/0.12.0 \
    MEDIMG_CORS_ORIGINS='["http://127.0.0.1:8080","http://localhost:8080"]' \
    MEDIMG_API_HOST=0.0.0.0 \
    MEDIMG_API_PORT=8000 \
    MEDIMG_DICOM_ENABLED=true \
    MEDIMG_DICOM_HOST=0.0.0.0 \
    MEDIMG_DICOM_PORT=11112

USER medimg
# The API. The DICOM listener (C-STORE SCP, inside the API process) listens on 11112 too:
# publish it with `-p 11112:11112` where modalities or the PACS must reach it, and only there
# (DICOM has no API key; docs/INTEROP.md, "The DICOM listener").
EXPOSE 8000

# Model loading takes a while on first start, hence the start period.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]

# `python -m api`, not uvicorn itself: it refuses to listen on the network while no API key
# exists (set MEDIMG_BOOTSTRAP_ADMIN_KEY, or create one with `python -m api.keys create`).
CMD ["python", "-m", "api"]
