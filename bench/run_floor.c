/* SPDX-License-Identifier: AGPL-3.0-or-later
 * The physical floor of a durable supervised run, the anchor of `run noop`:
 * append a start record to a log and fdatasync it, fork a child that
 * dlopens the plugin, wait for it, append an end record and fdatasync.
 * No validation, audit, journal, parameters or plugin call: what no host can
 * avoid when the start must be on disk before the plugin runs.
 *   run_floor <state-dir> <plugin.so>
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int append(int fd, const char* what) {
  char line[256];
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  int n = snprintf(line, sizeof line, "{\"op\":\"%s\",\"pid\":%d,\"t\":%lld.%09ld}\n", what, (int)getpid(),
                   (long long)ts.tv_sec, ts.tv_nsec);
  if (write(fd, line, (size_t)n) != n) return -1;
  return fdatasync(fd);
}

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: run_floor <state-dir> <plugin.so>\n");
    return 2;
  }
  char path[4096];
  mkdir(argv[1], 0700);
  snprintf(path, sizeof path, "%s/floor.log", argv[1]);
  int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0 || append(fd, "start") != 0) {
    perror(path);
    return 1;
  }
  pid_t child = fork();
  if (child == 0) {
    void* handle = dlopen(argv[2], RTLD_NOW | RTLD_LOCAL);
    _exit(handle != NULL ? 0 : 3);
  }
  int status = 0;
  if (child < 0 || waitpid(child, &status, 0) != child) return 1;
  if (append(fd, "end") != 0) return 1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
