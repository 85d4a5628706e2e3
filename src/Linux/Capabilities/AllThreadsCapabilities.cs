using System.Runtime.InteropServices;

namespace VirtioFsd.Linux.Capabilities;

/// <summary>
/// Restricts the capabilities of every thread of this process. Linux keeps capability sets per thread and
/// capset(2) changes only the caller's, while a .NET process has runtime threads (finalizer, signal handling,
/// and under CoreCLR the tiered compiler, debugger and event pipe) from before Main that run no code of ours.
/// So this does what glibc does for setuid(2) (SIGSETXID) and libcap's psx library for capset: it signals each
/// thread, and a handler that makes only raw system calls drops the bounding set, clears the ambient set and
/// calls capset on that thread. Then it reads every thread's sets back from /proc and fails unless all hold
/// exactly the kept set, signalling again any thread that appeared meanwhile.
/// </summary>
/// <remarks>
/// The handler is a few bytes of x86_64 machine code written to a page of our own (so nothing in it touches the
/// runtime, the GC or errno, which makes it safe to run on any thread at any instruction); the handler's data
/// lives on a separate read-write page. Unsafe: both pages are mapped here, written only before the handler is
/// installed (the counter excepted, which only the handler's locked increment and Volatile reads touch), and
/// never unmapped, because a handler may still be returning when the last count arrives.
/// </remarks>
public static unsafe class AllThreadsCapabilities
{
    private const int PageSize = 4096;
    private const int HeaderOffset = 0;
    private const int DataOffset = 8;
    private const int CounterOffset = 64;
    private const int RestorerOffset = 2048;
    private const int Rounds = 5;
    private static readonly TimeSpan RoundTimeout = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Leaves every thread with bounding = permitted = effective = <paramref name="kept"/> and empty inheritable
    /// and ambient sets. Needs CAP_SETPCAP and <paramref name="kept"/> within the permitted set. Returns null
    /// on success, else what went wrong (the process may then hold a mix of sets: the caller must exit).
    /// </summary>
    public static string? Restrict(TaskDirectory tasks, ulong kept)
    {
        ArgumentNullException.ThrowIfNull(tasks);
        if (RuntimeInformation.ProcessArchitecture != Architecture.X64)
        {
            return $"dropping capabilities on every thread is implemented for x86_64 only, not {RuntimeInformation.ProcessArchitecture}";
        }
        int lastCap = LastCapability();
        if (lastCap < 0)
        {
            return "prctl(PR_CAPBSET_READ) fails for every capability";
        }
        nint pages = Libc.Mmap(0, 2 * PageSize, Libc.PROT_READ | Libc.PROT_WRITE, Libc.MAP_PRIVATE | Libc.MAP_ANONYMOUS, -1, 0);
        if (pages < 0)
        {
            return $"mmap: {Errno.Describe((int)pages)}";
        }
        byte* code = (byte*)pages;
        byte* data = code + PageSize;
        WriteData(data, kept);
        int length = WriteHandler(code, data, kept, lastCap);
        WriteRestorer(code + RestorerOffset);
        if (length > RestorerOffset)
        {
            return "internal error: the signal handler does not fit its page";
        }
        int r = Libc.Mprotect(pages, PageSize, Libc.PROT_READ | Libc.PROT_EXEC);
        if (r < 0)
        {
            return $"mprotect PROT_EXEC (a security module may forbid executable anonymous memory): {Errno.Describe(r)}";
        }
        int signal = FreeSignal();
        if (signal < 0)
        {
            return "no real-time signal is free for the capability broadcast";
        }
        var action = new Libc.KernelSigaction
        {
            Handler = (nint)code,
            Flags = Libc.SA_RESTART | Libc.SA_RESTORER,
            Restorer = (nint)(code + RestorerOffset),
            Mask = ulong.MaxValue, // nothing else runs on the thread while the handler does
        };
        r = Libc.RtSigaction(signal, action, out _);
        if (r < 0)
        {
            return $"rt_sigaction: {Errno.Describe(r)}";
        }
        try
        {
            return Broadcast(tasks, kept, signal, (int*)(data + CounterOffset));
        }
        finally
        {
            // SIG_IGN, not SIG_DFL: a signal still pending on a thread that never ran the handler must not kill us.
            Libc.RtSigaction(signal, new Libc.KernelSigaction { Handler = 1 }, out _);
        }
    }

    private static string? Broadcast(TaskDirectory tasks, ulong kept, int signal, int* counter)
    {
        int sent = 0;
        for (int round = 0; round < Rounds; round++)
        {
            var behind = new List<ThreadCapabilitySets>();
            foreach (int tid in tasks.ThreadIds())
            {
                // A status that cannot be read counts as not dropped: the thread is signalled, and one that has
                // ended meanwhile is no longer listed in the next round.
                if (!tasks.TryRead(tid, out ThreadCapabilitySets sets))
                {
                    behind.Add(new ThreadCapabilitySets(tid, "status unreadable", 0, ulong.MaxValue, 0, 0, 0));
                }
                else if (!sets.HoldsExactly(kept))
                {
                    behind.Add(sets);
                }
            }
            if (behind.Count == 0)
            {
                return null;
            }
            if (round == Rounds - 1)
            {
                return "a thread keeps other capabilities after the broadcast: " + behind[0];
            }
            foreach (ThreadCapabilitySets sets in behind)
            {
                // ESRCH: the thread ended after it was listed, which is as good as dropped.
                if (Libc.Tgkill(sets.Tid, signal) == 0)
                {
                    sent++;
                }
            }
            DateTime deadline = DateTime.UtcNow + RoundTimeout;
            while (Volatile.Read(ref *counter) < sent && DateTime.UtcNow < deadline)
            {
                Thread.Sleep(1);
            }
        }
        return null;
    }

    private static void WriteData(byte* data, ulong kept)
    {
        // struct __user_cap_header_struct { u32 version; int pid = 0 (the calling thread) }.
        *(uint*)(data + HeaderOffset) = Libc.CapabilityVersion3;
        *(int*)(data + HeaderOffset + 4) = 0;
        // Two struct __user_cap_data_struct { u32 effective, permitted, inheritable }: low then high words.
        uint* sets = (uint*)(data + DataOffset);
        sets[0] = (uint)kept;
        sets[1] = (uint)kept;
        sets[2] = 0;
        sets[3] = (uint)(kept >> 32);
        sets[4] = (uint)(kept >> 32);
        sets[5] = 0;
        *(int*)(data + CounterOffset) = 0;
    }

    /// <summary>void handler(int): prctl(PR_CAPBSET_DROP, c) for each c not kept; prctl(PR_CAP_AMBIENT, CLEAR_ALL); capset; lock inc counter; ret.</summary>
    private static int WriteHandler(byte* code, byte* data, ulong kept, int lastCap)
    {
        var x = new X64Writer(code);
        for (int c = 0; c <= lastCap; c++)
        {
            if ((kept & (1UL << c)) == 0)
            {
                x.MovEax((uint)Libc.SysPrctl);
                x.MovEdi(Libc.PR_CAPBSET_DROP);
                x.MovEsi((uint)c);
                x.Syscall();
            }
        }
        x.MovEax((uint)Libc.SysPrctl);
        x.MovEdi(Libc.PR_CAP_AMBIENT);
        x.MovEsi(Libc.PR_CAP_AMBIENT_CLEAR_ALL);
        x.ZeroEdxR10R8(); // CLEAR_ALL insists that arguments 3 to 5 are zero
        x.Syscall();
        x.MovEax((uint)Libc.SysCapset);
        x.MovRdi((ulong)(data + HeaderOffset));
        x.MovRsi((ulong)(data + DataOffset));
        x.Syscall();
        x.MovRdx((ulong)(data + CounterOffset));
        x.LockIncDwordAtRdx();
        x.Ret();
        return x.Length;
    }

    /// <summary>The restorer the kernel returns to after the handler: rt_sigreturn.</summary>
    private static void WriteRestorer(byte* code)
    {
        var x = new X64Writer(code);
        x.MovEax((uint)Libc.SysRtSigreturn);
        x.Syscall();
    }

    /// <summary>The highest real-time signal whose disposition is still the default, or -1.</summary>
    private static int FreeSignal()
    {
        for (int s = 64; s >= 40; s--)
        {
            if (Libc.RtSigaction(s, null, out Libc.KernelSigaction current) == 0 && current.Handler == 0)
            {
                return s;
            }
        }
        return -1;
    }

    /// <summary>The kernel's highest capability: PR_CAPBSET_READ answers EINVAL past it (no /proc needed inside a sandbox).</summary>
    private static int LastCapability()
    {
        int c = 0;
        while (c < 64 && Libc.CapBoundingRead(c) >= 0)
        {
            c++;
        }
        return c - 1;
    }

    /// <summary>The handful of x86_64 instructions the handler needs, encoded by hand.</summary>
    private ref struct X64Writer(byte* start)
    {
        private readonly byte* _start = start;
        private byte* _at = start;

        public readonly int Length => (int)(_at - _start);

        public void MovEax(uint value) => Op32(0xB8, value);

        public void MovEdi(uint value) => Op32(0xBF, value);

        public void MovEsi(uint value) => Op32(0xBE, value);

        public void MovRdi(ulong value) => Op64(0xBF, value);

        public void MovRsi(ulong value) => Op64(0xBE, value);

        public void MovRdx(ulong value) => Op64(0xBA, value);

        public void ZeroEdxR10R8() => Bytes(0x31, 0xD2, 0x45, 0x31, 0xD2, 0x45, 0x31, 0xC0); // xor edx,edx; xor r10d,r10d; xor r8d,r8d

        public void Syscall() => Bytes(0x0F, 0x05);

        public void LockIncDwordAtRdx() => Bytes(0xF0, 0xFF, 0x02);

        public void Ret() => Bytes(0xC3);

        private void Op32(byte opcode, uint value)
        {
            *_at++ = opcode;
            *(uint*)_at = value;
            _at += 4;
        }

        private void Op64(byte register, ulong value)
        {
            *_at++ = 0x48; // REX.W
            *_at++ = register;
            *(ulong*)_at = value;
            _at += 8;
        }

        private void Bytes(params ReadOnlySpan<byte> bytes)
        {
            foreach (byte b in bytes)
            {
                *_at++ = b;
            }
        }
    }
}
