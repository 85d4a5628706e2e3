/*
 * Linked into the NativeAOT binary only (VirtioFsd.csproj, target CompileNativeSources).
 *
 * Before main(), so before the .NET runtime starts: NativeAOT's .hydrated section, where the runtime's first act is
 * to unpack ~1 MiB of type data, is made resident with one MADV_POPULATE_WRITE instead of one page fault per 4 KiB
 * page as the runtime writes it. Every page of .hydrated is written at start-up anyway, so this adds no memory; it
 * only batches the faults. Where a fault is expensive (in a VM it can cost 15 us), that was ~270 faults and ~4 ms of
 * the time before the socket is ready (docs/benchmark.md "One native binary").
 *
 * Only .hydrated: the .bss before it (88 KiB in the daemon) is mostly never written, and populating it kept about
 * a dozen untouched pages resident for the process's whole life. The section table is not loaded into memory, so it
 * is read from /proc/self/exe; a program without a .hydrated section, or one whose file cannot be read, has the whole
 * zero-filled tail of its writable segment populated instead.
 *
 * Best effort: before Linux 5.14 madvise says EINVAL and the pages fault in as before.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

static const char hydrated_name[] = ".hydrated";

/*
 * The link-time address range of the program's SHT_NOBITS section called .hydrated, read from the section table of
 * /proc/self/exe one entry at a time (a whole table on the stack would leave more stack pages resident than this
 * saves). Returns 0 where there is none or the file cannot be read.
 */
static int find_hydrated(ElfW(Addr) *start, ElfW(Addr) *end)
{
    int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return 0;
    }
    int found = 0;
    ElfW(Ehdr) eh;
    ElfW(Shdr) names;
    if (pread(fd, &eh, sizeof eh, 0) == (ssize_t)sizeof eh && memcmp(eh.e_ident, ELFMAG, SELFMAG) == 0
        && eh.e_shentsize == sizeof(ElfW(Shdr)) && eh.e_shstrndx < eh.e_shnum
        && pread(fd, &names, sizeof names, (off_t)(eh.e_shoff + (ElfW(Off))eh.e_shstrndx * sizeof names))
               == (ssize_t)sizeof names) {
        for (ElfW(Half) i = 0; i < eh.e_shnum && !found; i++) {
            ElfW(Shdr) sh;
            if (pread(fd, &sh, sizeof sh, (off_t)(eh.e_shoff + (ElfW(Off))i * sizeof sh)) != (ssize_t)sizeof sh) {
                break;
            }
            char name[sizeof hydrated_name];
            if (sh.sh_type != SHT_NOBITS || sh.sh_name >= names.sh_size
                || names.sh_size - sh.sh_name < sizeof name
                || pread(fd, name, sizeof name, (off_t)(names.sh_offset + sh.sh_name)) != (ssize_t)sizeof name
                || memcmp(name, hydrated_name, sizeof name) != 0) {
                continue;
            }
            *start = sh.sh_addr;
            *end = sh.sh_addr + sh.sh_size;
            found = 1;
        }
    }
    close(fd);
    return found;
}

static int populate_program_zero_fill(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    (void)data;
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    ElfW(Addr) hydrated_start = 0, hydrated_end = 0;
    int hydrated = find_hydrated(&hydrated_start, &hydrated_end);
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_W) || ph->p_memsz <= ph->p_filesz) {
            continue;
        }
        /* The page holding the end of the file's bytes is file-backed and already written by the loader. */
        ElfW(Addr) from = ph->p_vaddr + ph->p_filesz;
        ElfW(Addr) to = ph->p_vaddr + ph->p_memsz;
        if (hydrated && hydrated_start >= from && hydrated_end <= to) {
            from = hydrated_start;
            to = hydrated_end;
        }
        uintptr_t start = (info->dlpi_addr + from + page - 1) & ~(page - 1);
        uintptr_t end = (info->dlpi_addr + to + page - 1) & ~(page - 1);
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
