# A slim, non-root image that runs `voorzorg-adapter serve`.
# The data directory (SQLite store, issuer keys) is a volume; set VOORZORG_DATABASE_URL for PostgreSQL.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    VOORZORG_DATA_DIR=/data

RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin voorzorg \
    && mkdir -p /data && chown voorzorg /data

WORKDIR /app
# The package reads its rules (mappings/), FHIR package (profiles/fsh-generated/) and the R4 core
# definitions (profiles/core/) beside it, so the project is installed in place.
COPY pyproject.toml README.md ./
COPY adapter ./adapter
COPY mappings ./mappings
COPY profiles/fsh-generated ./profiles/fsh-generated
COPY profiles/core ./profiles/core
COPY examples ./examples
RUN pip install -e . && chown -R root:root /app && chmod -R a+rX /app

USER voorzorg
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:8080/metadata', timeout=2)" || exit 1
ENTRYPOINT ["voorzorg-adapter"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8080"]
