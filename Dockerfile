# CyberOps-Bots: the bot and its twin, on CPU.
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
# CPU build of PyTorch (the RL agents' runtime), from PyTorch's CPU index, pinned.
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0
COPY . .
RUN pip install -e . && python -c "import twin.kernels"
ENTRYPOINT ["cyberops"]
CMD ["sim"]
