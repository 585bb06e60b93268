/* SPDX-License-Identifier: AGPL-3.0-or-later
 * What this machine charges for the two things a short command does most
 * besides computing: a system call and a page fault. On a paravirtualised
 * VM both leave the guest, and they weigh far more than on bare metal; with
 * the page-fault and system-call counts of a run (bench/run.sh), they say
 * how much of the gap to the floor is the kernel's and how much user code.
 *   vm_costs    prints one JSON object (microseconds)
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

int main(void) {
  enum { kCalls = 200000, kMaps = 400, kPages = 256 };
  double t = now_us();
  for (int i = 0; i < kCalls; ++i) syscall(SYS_getppid);
  const double call = (now_us() - t) / kCalls;

  struct stat st;
  t = now_us();
  for (int i = 0; i < kCalls; ++i) stat("/", &st);
  const double stat_call = (now_us() - t) / kCalls;

  /* First write to each page of a fresh anonymous mapping: one fault each
   * (the mapping and its unmapping are spread over its pages). */
  t = now_us();
  for (int i = 0; i < kMaps; ++i) {
    volatile char* p = mmap(NULL, (size_t)kPages * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return 1;
    for (int j = 0; j < kPages; ++j) p[(size_t)j * 4096] = 1;
    munmap((void*)p, (size_t)kPages * 4096);
  }
  const double fault = (now_us() - t) / (kMaps * kPages);

  /* The same pages populated by the mmap itself: what the page costs
   * without the fault. */
  t = now_us();
  for (int i = 0; i < kMaps; ++i) {
    volatile char* p = mmap(NULL, (size_t)kPages * 4096, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (p == MAP_FAILED) return 1;
    for (int j = 0; j < kPages; ++j) p[(size_t)j * 4096] = 1;
    munmap((void*)p, (size_t)kPages * 4096);
  }
  const double populated = (now_us() - t) / (kMaps * kPages);
  printf("{\"syscall_us\": %.3f, \"stat_us\": %.3f, \"page_fault_us\": %.3f, \"populated_page_us\": %.3f}\n", call,
         stat_call, fault, populated);
  return 0;
}
