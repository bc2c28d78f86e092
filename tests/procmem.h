/* procmem.h - what tests/bench.c and tests/test_memory.c share to measure a process's memory
   (Linux) and to bring a report back from a forked child. POSIX: include it after defining
   _POSIX_C_SOURCE (or _GNU_SOURCE), on a system with fork.

   procmem_status_kib("VmRSS")   a field of /proc/self/status in KiB, or -1: VmRSS is what
                                 is resident now, VmHWM the peak of it
   procmem_reset_peak(slack)     write 5 to /proc/self/clear_refs (Linux 4.0 and later),
                                 which sets VmHWM back to VmRSS; 1 if VmHWM is then within
                                 slack KiB of VmRSS. VmHWM after a run less VmRSS before it
                                 is what the run itself added at its worst
   procmem_write_all / _read_all the whole of a buffer through a pipe, or 0 */
#ifndef PROCMEM_H
#define PROCMEM_H
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static double procmem_status_kib(const char *field)
{
    char line[256];
    size_t len = strlen(field);
    double kib = -1;
    FILE *f = fopen("/proc/self/status", "r");
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, field, len) == 0 && line[len] == ':') {
            kib = strtod(line + len + 1, NULL);
            break;
        }
    if (f) fclose(f);
    return kib;
}

static int procmem_reset_peak(double slack_kib)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    int ok;
    if (!f) return 0;
    ok = fputs("5", f) >= 0;
    ok = fclose(f) == 0 && ok;
    return ok && procmem_status_kib("VmHWM") <= procmem_status_kib("VmRSS") + slack_kib;
}

static int procmem_write_all(int fd, const void *buf, size_t n)
{
    const char *p = (const char *)buf;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return 0;
        p += w, n -= (size_t)w;
    }
    return 1;
}

static int procmem_read_all(int fd, void *buf, size_t n)
{
    char *p = (char *)buf;
    while (n > 0) {
        ssize_t r = read(fd, p, n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return 0;
        p += r, n -= (size_t)r;
    }
    return 1;
}
#endif
