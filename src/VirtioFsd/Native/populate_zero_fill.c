/*
 * Linked into the NativeAOT binary only (VirtioFsd.csproj, target CompileNativeSources).
 *
 * Before main(), so before the .NET runtime starts: the zero-filled tail of the program's writable segment (.bss,
 * and NativeAOT's .hydrated, where the runtime's first act is to unpack ~1 MiB of type data) is made resident with
 * one MADV_POPULATE_WRITE instead of one page fault per 4 KiB page as the runtime writes it. Every page of
 * .hydrated is written at start-up anyway, so this adds no memory; it only batches the faults. Where a fault is
 * expensive (in a VM it can cost 15 us), that was ~270 faults and ~4 ms of the time before the socket is ready
 * (docs/benchmark.md "One native binary").
 *
 * Best effort: before Linux 5.14 madvise says EINVAL and the pages fault in as before.
 */
#define _GNU_SOURCE
#include <link.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

static int populate_program_zero_fill(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    (void)data;
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_W) || ph->p_memsz <= ph->p_filesz) {
            continue;
        }
        /* The page holding the end of the file's bytes is file-backed and already written by the loader. */
        uintptr_t start = (info->dlpi_addr + ph->p_vaddr + ph->p_filesz + page - 1) & ~(page - 1);
        uintptr_t end = (info->dlpi_addr + ph->p_vaddr + ph->p_memsz + page - 1) & ~(page - 1);
        if (end > start) {
            (void)madvise((void *)start, end - start, MADV_POPULATE_WRITE);
        }
    }
    /* glibc reports the program first: stop there, shared libraries are not ours to touch. */
    return 1;
}

__attribute__((constructor)) void virtiofsd_populate_zero_fill(void)
{
    dl_iterate_phdr(populate_program_zero_fill, NULL);
}
