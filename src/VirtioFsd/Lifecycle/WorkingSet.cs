using System.Runtime.InteropServices;
using VirtioFsd.Linux;

namespace VirtioFsd.Lifecycle;

/// <summary>
/// Gives back the memory a phase of work touched and waiting does not need: garbage in the GC heap, free malloc
/// pages, and the code and read-only data of the program and of libc that the phase ran. The last is most of it
/// (docs/benchmark.md "One native binary", from /proc/PID/smaps): start-up leaves nearly all of the NativeAOT
/// binary's 2.7 MB of code and 1.9 MB of read-only data resident, and 1.9 MiB of libc, libm and ld.so, although
/// the command-line parser, the sandbox set-up and the logger configuration never run again. Code is laid out by
/// assembly, not by use, and the kernel maps the page-cache pages within 64 KiB of every fault (fault-around),
/// so a phase that calls a few hundred methods maps most of the binary.
/// </summary>
internal static unsafe partial class WorkingSet
{
    private const int MADV_DONTNEED = 4;
    private const uint PT_LOAD = 1;
    private const uint PT_DYNAMIC = 2;
    private const uint PF_W = 2;
    private const long DT_NULL = 0;
    private const long DT_TEXTREL = 22;
    private const long DT_FLAGS = 30;
    private const long DF_TEXTREL = 4;

    // /proc/PID/pagemap entry bits (Documentation/admin-guide/mm/pagemap.rst).
    private const ulong PagePresent = 1UL << 63;
    private const ulong PageSwapped = 1UL << 62;
    private const ulong PageFileOrSharedAnon = 1UL << 61;

    /// <summary>Pages looked up per pread of the page map (4 KiB of entries on the stack).</summary>
    private const int PageMapChunk = 512;

    /// <summary>/proc/self/pagemap, opened before a sandbox hides /proc; -1 when it could not be opened.</summary>
    private static int s_pageMap = -1;

    [LibraryImport("libc", EntryPoint = "madvise")]
    private static partial int Madvise(nint addr, nuint length, int advice);

    [LibraryImport("libc", EntryPoint = "malloc_trim")]
    private static partial int MallocTrim(nuint pad);

    [LibraryImport("libc", EntryPoint = "dl_iterate_phdr")]
    private static partial int DlIteratePhdr(delegate* unmanaged<DlPhdrInfo*, nuint, nint, int> callback, nint data);

    /// <summary>
    /// Opens this process's page map while /proc is reachable (before the sandbox). Without it <see cref="Trim"/>
    /// leaves code and read-only data alone, since it could not tell which of their pages are private copies.
    /// </summary>
    public static void OpenPageMap()
    {
        if (s_pageMap < 0)
        {
            int fd = Libc.OpenAbsolute("/proc/self/pagemap", Libc.O_RDONLY | Libc.O_CLOEXEC);
            s_pageMap = fd >= 0 ? fd : -1;
        }
    }

    /// <summary>
    /// Collects garbage, returns free heap pages to the kernel and unmaps the read-only pages of every loaded
    /// object. Returns the bytes of read-only segments advised away. Costs a full blocking GC (about a millisecond
    /// with the daemon's small heap) and, afterwards, one page fault per 64 KiB of code that runs again.
    /// </summary>
    public static long Trim()
    {
        // The read-only pages go first as well as last: the collection maps the GC's code and the tables its stack
        // walk bisects (.eh_frame_hdr and .dotnet_eh_table, ~0.5 MiB), and on top of all that start-up or a phase of
        // work left mapped, that made the process's peak (docs/benchmark.md "Fourth round").
        long dropped = DropReadOnlyPages();
        // Aggressive: a full compacting collection that also decommits the free regions instead of keeping them
        // for the next allocations.
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        // The finalizer thread runs what the collection queued (and the runtime's after-gen2 callbacks, such as the
        // array pools' trimming): before the unmapping, so that its code is not mapped again right after.
        GC.WaitForPendingFinalizers();
        // glibc: releases the top of the heap and MADV_DONTNEEDs the free pages inside every arena.
        MallocTrim(0);
        return dropped + DropReadOnlyPages();
    }

    /// <summary>The read-only pages of every loaded object that are not private copies, dropped; the bytes dropped.</summary>
    private static long DropReadOnlyPages()
    {
        if (s_pageMap < 0)
        {
            return 0;
        }
        // First every run of pages is found, then all are dropped in one tight loop, the executable's (reported
        // first) last: code that runs after the executable's own pages are dropped maps them again, 64 KiB per fault.
        PageRun* runs = stackalloc PageRun[MaxRuns];
        var found = new RunList { Runs = runs, Count = 0 };
        // Sound: the callback runs synchronously on this thread and writes only to this local and its buffer. Between
        // the look-up and the drop no page can become a private copy: only start-up writes into read-only segments
        // (the NativeAOT stack cookie), and the daemon loads and unloads no library later.
        DlIteratePhdr(&FindReadOnlyRuns, (nint)(&found));
        return Drop(&found);
    }

    /// <summary>
    /// MADV_DONTNEED on the pages of [<paramref name="start"/>, <paramref name="end"/>) (page-aligned, mapped from a
    /// file) that are not private copies; returns the bytes dropped. What <see cref="Trim"/> does to each read-only
    /// segment, for the tests. Needs <see cref="OpenPageMap"/> first.
    /// </summary>
    internal static long DropFilePages(nint start, nint end)
    {
        if (s_pageMap < 0)
        {
            return 0;
        }
        PageRun* runs = stackalloc PageRun[MaxRuns];
        var found = new RunList { Runs = runs, Count = 0 };
        AddFilePageRuns(&found, start, end, Environment.SystemPageSize);
        return Drop(&found);
    }

    /// <summary>Drops the runs, last first (see <see cref="Trim"/>).</summary>
    private static long Drop(RunList* found)
    {
        long dropped = 0;
        for (int i = found->Count - 1; i >= 0; i--)
        {
            PageRun run = found->Runs[i];
            if (Madvise((nint)run.Start, (nuint)(run.End - run.Start), MADV_DONTNEED) == 0)
            {
                dropped += run.End - run.Start;
            }
        }
        return dropped;
    }

    /// <summary>
    /// For one loaded object: the runs of whole pages of its PT_LOAD segments that are not writable, except
    /// pages that are private copies, for MADV_DONTNEED. The rest are page-cache pages of a private file mapping, so the kernel only
    /// drops the page-table entries, and the next access maps the same page again (madvise(2): "repopulating the
    /// memory contents from the up-to-date contents of the underlying mapped file"): the pages stay cached for every
    /// process that runs the binary; this process stops counting the ones it no longer runs. A private copy is a
    /// page someone wrote through mprotect - the NativeAOT runtime does so for its stack-protector cookie
    /// (<c>__security_cookie</c> in .rodata) at start-up - and dropping it would bring back the file's bytes.
    /// </summary>
    /// <remarks>
    /// Sound: dl_iterate_phdr passes a valid dl_phdr_info whose program headers and PT_DYNAMIC entries are mapped
    /// for the duration of the call; nothing here writes to them, and <paramref name="data"/> is the caller's
    /// <see cref="RunList"/>, whose buffer holds <see cref="MaxRuns"/> entries.
    /// Nothing here allocates: the loader's lock is held, and a GC would wait for a thread that may be waiting for
    /// that lock in dlsym.
    /// </remarks>
    [UnmanagedCallersOnly]
    private static int FindReadOnlyRuns(DlPhdrInfo* info, nuint size, nint data)
    {
        // The vDSO is the kernel's own mapping, with no page cache behind it.
        if (IsVdso((byte*)info->Name) || HasTextRelocations(info))
        {
            return 0;
        }
        long pageSize = Environment.SystemPageSize;
        for (int i = 0; i < info->PhNum; i++)
        {
            Elf64Phdr h = info->Phdr[i];
            if (h.Type != PT_LOAD || (h.Flags & PF_W) != 0)
            {
                continue;
            }
            // Whole pages inside the segment only, clipped where a writable segment's pages begin or end.
            long start = RoundUp((long)(info->Addr + h.VAddr), pageSize);
            long end = RoundDown((long)(info->Addr + h.VAddr + h.MemSz), pageSize);
            for (int j = 0; j < info->PhNum; j++)
            {
                Elf64Phdr w = info->Phdr[j];
                if (w.Type != PT_LOAD || (w.Flags & PF_W) == 0)
                {
                    continue;
                }
                long wStart = RoundDown((long)(info->Addr + w.VAddr), pageSize);
                long wEnd = RoundUp((long)(info->Addr + w.VAddr + w.MemSz), pageSize);
                if (wStart < end && wEnd > start)
                {
                    if (wStart > start)
                    {
                        end = wStart;
                    }
                    else
                    {
                        start = Math.Max(start, wEnd);
                    }
                }
            }
            AddFilePageRuns((RunList*)data, start, end, pageSize);
        }
        return 0;
    }

    /// <summary>Adds the runs of pages in [start, end) that are not private copies (as many as fit).</summary>
    private static void AddFilePageRuns(RunList* list, long start, long end, long pageSize)
    {
        Span<ulong> entries = stackalloc ulong[PageMapChunk];
        long run = -1;
        for (long page = start; page < end; page += PageMapChunk * pageSize)
        {
            int count = (int)Math.Min(PageMapChunk, (end - page) / pageSize);
            Span<byte> bytes = MemoryMarshal.AsBytes(entries[..count]);
            if (Libc.Pread(s_pageMap, bytes, page / pageSize * sizeof(ulong)) != bytes.Length)
            {
                // Cannot tell copies from cache pages: leave the rest of the segment as it is.
                end = page;
                break;
            }
            for (int k = 0; k < count; k++)
            {
                long address = page + (k * pageSize);
                ulong e = entries[k];
                bool privateCopy = ((e & PagePresent) != 0 && (e & PageFileOrSharedAnon) == 0) || (e & PageSwapped) != 0;
                if (!privateCopy && run < 0)
                {
                    run = address;
                }
                else if (privateCopy && run >= 0)
                {
                    list->Add(run, address);
                    run = -1;
                }
            }
        }
        if (run >= 0)
        {
            list->Add(run, end);
        }
    }

    /// <summary>The kernel names its vDSO "linux-vdso.so.1" (x86-64).</summary>
    private static bool IsVdso(byte* name)
    {
        if (name is null)
        {
            return false;
        }
        ReadOnlySpan<byte> text = MemoryMarshal.CreateReadOnlySpanFromNullTerminated(name);
        return text.IndexOf("vdso"u8) >= 0;
    }

    /// <summary>DT_TEXTREL or DF_TEXTREL: the loader wrote into read-only segments, whose pages are then private copies.</summary>
    private static bool HasTextRelocations(DlPhdrInfo* info)
    {
        for (int i = 0; i < info->PhNum; i++)
        {
            if (info->Phdr[i].Type != PT_DYNAMIC)
            {
                continue;
            }
            for (long* d = (long*)(info->Addr + info->Phdr[i].VAddr); d[0] != DT_NULL; d += 2)
            {
                if (d[0] == DT_TEXTREL || (d[0] == DT_FLAGS && (d[1] & DF_TEXTREL) != 0))
                {
                    return true;
                }
            }
        }
        return false;
    }

    private static long RoundUp(long value, long page) => (value + page - 1) & ~(page - 1);

    private static long RoundDown(long value, long page) => value & ~(page - 1);

    /// <summary>Runs of pages to drop: a NativeAOT daemon has about ten (three objects with two or three read-only
    /// segments each, split around the private copies).</summary>
    private const int MaxRuns = 64;

    [StructLayout(LayoutKind.Sequential)]
    private struct PageRun
    {
        public long Start;
        public long End;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct RunList
    {
        public PageRun* Runs;
        public int Count;

        public void Add(long start, long end)
        {
            if (end > start && Count < MaxRuns)
            {
                Runs[Count++] = new PageRun { Start = start, End = end };
            }
        }
    }

    /// <summary>struct dl_phdr_info (link.h), the fields up to dlpi_phnum.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct DlPhdrInfo
    {
        public ulong Addr;
        public nint Name;
        public Elf64Phdr* Phdr;
        public ushort PhNum;
    }

    /// <summary>Elf64_Phdr (elf.h).</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct Elf64Phdr
    {
        public uint Type;
        public uint Flags;
        public ulong Offset;
        public ulong VAddr;
        public ulong PAddr;
        public ulong FileSz;
        public ulong MemSz;
        public ulong Align;
    }
}
