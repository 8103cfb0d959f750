# mnistmax in a container: the CLI as ENTRYPOINT, runs written to the volume /work/outputs.
#
#   docker build -t mnistmax .                                   # CPU wheels of torch / torchvision
#   docker run --rm -v mnistmax-outputs:/work/outputs mnistmax train -c quick
#
# CUDA: build with a CUDA wheel index and run with --gpus all (NVIDIA Container Toolkit):
#   docker build -t mnistmax:cuda --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu130 .
#   docker run --rm --gpus all -v mnistmax-outputs:/work/outputs mnistmax:cuda train -c mnist
# (TORCH_INDEX=https://pypi.org/simple installs the same CUDA 13.0 wheels `make install` gets.)
FROM python:3.11.14-slim-bookworm

# where torch / torchvision come from: PyTorch's CPU wheels unless a CUDA index is given
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
# optional extras, e.g. --build-arg EXTRAS="[search,mlflow,export]" (search / grid need the search extra)
ARG EXTRAS=""

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MPLCONFIGDIR=/tmp/matplotlib \
    PATH=/opt/venv/bin:$PATH

# the torch / torchvision pins of the Makefile (tests/test_container.py keeps them equal), then
# mnistmax from this source tree at the versions in constraints.txt, as `make install` does
RUN python -m venv /opt/venv \
    && pip install --no-cache-dir --index-url "${TORCH_INDEX}" torch==2.14.1 torchvision==0.29.1
COPY pyproject.toml README.md constraints.txt /tmp/mnistmax-src/
COPY mnistmax /tmp/mnistmax-src/mnistmax
RUN pip install --no-cache-dir -c /tmp/mnistmax-src/constraints.txt "/tmp/mnistmax-src${EXTRAS}" \
    && rm -rf /tmp/mnistmax-src \
    && mnistmax --version

# a non-root user, by number (Kubernetes' runAsNonRoot checks the number)
RUN useradd --create-home --uid 1000 --user-group mnistmax \
    && mkdir -p /work/outputs /work/data \
    && chown -R mnistmax:mnistmax /work
WORKDIR /work
USER 1000:1000

# logging.output_dir defaults to outputs/ under the working directory: /work/outputs.
# data.root is /work/data: mount full MNIST there, or let torchvision download into it.
VOLUME ["/work/outputs"]
ENTRYPOINT ["mnistmax"]
CMD ["--help"]
