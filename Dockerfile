# CyberOps-Bots: the bot and its twin, on CPU.
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
# CPU build of PyTorch (the RL agents' runtime), from PyTorch's CPU index, pinned.
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0
COPY . .
# a one-episode run compiles and caches the numba kernels at build time, not at first use
RUN pip install -e . && cyberops sim --scenario paper-base --episodes 1 --defender greedy --json
ENTRYPOINT ["cyberops"]
CMD ["sim"]
