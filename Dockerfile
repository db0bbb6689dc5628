# CyberOps-Bots: the bot and its twin, on CPU.
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 HF_HUB_OFFLINE=1 CYBEROPS_DB=/data/cyberops.db
WORKDIR /app
# CPU build of PyTorch (the RL agents' runtime), from PyTorch's CPU index, pinned.
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0
COPY . .
# a one-episode run compiles and caches the numba kernels at build time, not at first use
RUN pip install -e . && cyberops sim --scenario paper-base --episodes 1 --defender greedy --json \
    && mkdir -p /data
VOLUME /data
# Slack HTTP mode listens here (cyberops serve); GET /healthz answers when it is up
EXPOSE 3000
ENTRYPOINT ["cyberops"]
# the terminal demo (docker run -it); for chat: docker run -e SLACK_BOT_TOKEN=... -p 3000:3000 IMAGE serve
CMD ["demo"]
