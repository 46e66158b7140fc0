# One image for every stage (CPU build). The CUDA image for the trainer comes with the compose issue.
FROM debian:12-slim
WORKDIR /src
COPY scripts/dev scripts/dev
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends dpkg \
    && scripts/dev deps && rm -rf /var/lib/apt/lists/*
COPY . .
RUN PAWPIPE_CUDA=OFF scripts/dev build && cp build/bin/* /usr/local/bin/
WORKDIR /src
