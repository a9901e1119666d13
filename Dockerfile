# syntax=docker/dockerfile:1
#
# keymount's container image: compiled with the dev dependencies, run with the production dependencies only.
#   docker build -t keymount:0.1.0 .
#
# Base: the official Node.js image on Debian 12 "bookworm", slim variant, pinned by tag to the current LTS line
# (Node 24). Debian's slim images ship util-linux's mount and umount, which keymount runs to mount each volume's
# tmpfs; a distroless image would need them and their libraries (libmount, libblkid, libselinux, …) copied in by
# hand. Override with --build-arg NODE_IMAGE=… (for example to pin a digest).
ARG NODE_IMAGE=node:24-bookworm-slim

# ---- build: TypeScript → dist/, as the unprivileged "node" user of the base image ----
FROM ${NODE_IMAGE} AS build
RUN install -d -o node -g node /home/node/keymount
USER node
WORKDIR /home/node/keymount
COPY --chown=node:node package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY --chown=node:node tsconfig.json ./
COPY --chown=node:node proto ./proto
COPY --chown=node:node src ./src
COPY --chown=node:node providers ./providers
RUN npx tsc -p tsconfig.json

# ---- prod-deps: production dependencies only, no install scripts; npm's cache stays behind in this stage ----
FROM ${NODE_IMAGE} AS prod-deps
RUN install -d -o node -g node /home/node/keymount
USER node
WORKDIR /home/node/keymount
COPY --chown=node:node package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

# ---- runtime ----
FROM ${NODE_IMAGE} AS runtime
# keymount never runs npm: drop npm, npx and corepack (and any cache), and make sure mount, umount and prlimit
# (all util-linux) are there.
RUN rm -rf /usr/local/lib/node_modules /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack /root/.npm /home/node/.npm \
 && command -v mount \
 && command -v umount \
 && command -v prlimit
WORKDIR /app
COPY package.json package-lock.json ./
COPY proto ./proto
COPY --from=prod-deps /home/node/keymount/node_modules ./node_modules
COPY --from=build /home/node/keymount/dist ./dist
ENV NODE_ENV=production
LABEL org.opencontainers.image.title="keymount" \
      org.opencontainers.image.description="A node-only CSI driver that mounts secrets and certificates into pods on tmpfs" \
      org.opencontainers.image.licenses="Apache-2.0"
# The driver runs as root, and that is the only privilege the image assumes: mount(2) into the host's mount
# namespace needs CAP_SYS_ADMIN, the kubelet's pod directories and the CSI socket are root's, and the files are
# chowned to the pod's fsGroup. The build stages above run as the unprivileged "node" user.
USER 0
# Node.js as PID 1 handles SIGTERM itself (graceful shutdown) and waits for every mount/umount it starts.
# prlimit sets RLIMIT_CORE to 0 (soft and hard) and then execs node in its place (still PID 1): a core dump would
# hold provider credentials and private keys. `keymount serve` sets the same limit itself, for runs outside the image.
STOPSIGNAL SIGTERM
ENTRYPOINT ["prlimit", "--core=0:0", "--", "node", "/app/dist/src/cli/main.js"]
CMD ["serve"]
