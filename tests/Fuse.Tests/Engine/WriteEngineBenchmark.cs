using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using VirtioFsd.Linux;
using VirtioFsd.Linux.IoUring;
using Xunit.Abstractions;

namespace VirtioFsd.Fuse.Tests.Engine;

// Unsafe for native pointers handed to the kernel; sound because the buffer and the iovec array are
// native allocations freed only after the last completion was reaped.
/// <summary>
/// The measurement behind the engine's WRITE policy (FuseServer.AsyncIo.cs): 4 KiB buffered writes at
/// random offsets of a 16 MiB file, pwritev inline vs io_uring WRITEV one per enter and 32 per enter.
/// Prints numbers only; asserts that every write wrote 4096 bytes, never how long anything took.
/// WRITE_BENCH_OPS sets writes per case (default 4000 keeps the regular run short).
/// </summary>
[Trait("Category", "Benchmark")]
public sealed unsafe class WriteEngineBenchmark(ITestOutputHelper output)
{
    private const int BlockSize = 4096;
    private const int FileBlocks = 4096;
    private const int Batch = 32;

    [SkippableTheory]
    [InlineData("/tmp")]
    [InlineData("/dev/shm")]
    public void PwritevVersusIoUringWritev(string directory)
    {
        // A benchmark that cannot run says so in the results (skipped, with the reason); it never passes.
        Skip.IfNot(Directory.Exists(directory), $"{directory} does not exist on this machine");
        int ops = int.TryParse(Environment.GetEnvironmentVariable("WRITE_BENCH_OPS"), out int n) && n > 0 ? n : 4_000;
        ops -= ops % Batch;
        string path = Path.Combine(directory, "write-bench-" + Guid.NewGuid().ToString("N"));
        byte* buffer = (byte*)NativeMemory.AllocZeroed(Batch * BlockSize);
        IoVec* iov = (IoVec*)NativeMemory.Alloc(Batch, (nuint)sizeof(IoVec));
        try
        {
            File.WriteAllBytes(path, new byte[FileBlocks * BlockSize]);
            using SafeFileHandle handle = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite);
            int fd = (int)handle.DangerousGetHandle();
            long[] offsets = new long[ops];
            var rng = new Random(42);
            for (int i = 0; i < ops; i++)
            {
                offsets[i] = (long)rng.Next(FileBlocks) * BlockSize;
            }
            for (int i = 0; i < Batch; i++)
            {
                iov[i] = new IoVec((nint)(buffer + (i * BlockSize)), BlockSize);
            }

            long nowait = Libc.Pwritev2(fd, new ReadOnlySpan<IoVec>(iov, 1), 0, Libc.RWF_NOWAIT);
            output.WriteLine($"{directory}: {ops} random 4 KiB writes per case, pwritev2(RWF_NOWAIT) -> {(nowait < 0 ? Errno.Describe((int)nowait) : nowait.ToString(System.Globalization.CultureInfo.InvariantCulture))}, loadavg {File.ReadAllText("/proc/loadavg").Trim()}");
            Report("pwritev inline", ops, () => PwritevLoop(fd, offsets, iov));
            Assert.True(Ring.TryCreate(64, new RingOptions { SetupFlags = IoUringConstants.SetupCoopTaskrun }, out Ring? ring, out _));
            using (ring)
            {
                Report("io_uring WRITEV 1/enter", ops, () => RingLoop(ring, fd, offsets, iov, 1));
                Report($"io_uring WRITEV {Batch}/enter", ops, () => RingLoop(ring, fd, offsets, iov, Batch));
            }
            Report("pwritev inline (repeated last)", ops, () => PwritevLoop(fd, offsets, iov));
        }
        finally
        {
            NativeMemory.Free(iov);
            NativeMemory.Free(buffer);
            File.Delete(path);
        }
    }

    /// <summary>Five runs after a warm-up: wall time per write (minimum, median) and process CPU per write (median, io-wq included).</summary>
    private void Report(string name, int ops, Func<long> run) => MicroBenchmark.Report(output.WriteLine, name, 34, "write", ops, BlockSize, run);

    private static long PwritevLoop(int fd, long[] offsets, IoVec* iov)
    {
        long total = 0;
        var one = new ReadOnlySpan<IoVec>(iov, 1);
        foreach (long off in offsets)
        {
            total += Libc.Pwritev(fd, one, off);
        }
        return total;
    }

    private static long RingLoop(Ring ring, int fd, long[] offsets, IoVec* iov, int batch)
    {
        Span<IoUringCqe> cqes = stackalloc IoUringCqe[Batch];
        long total = 0;
        for (int i = 0; i < offsets.Length; i += batch)
        {
            for (int j = 0; j < batch; j++)
            {
                Assert.True(ring.TryGetSqe(out SubmissionEntry sqe), "SQ full");
                sqe.Writev(fd, &iov[j], 1, offsets[i + j], (ulong)j);
            }
            int reaped = 0;
            while (reaped < batch)
            {
                int r = ring.SubmitAndWait((uint)(batch - reaped), null);
                Assert.True(r >= 0, Errno.Describe(r));
                int got = ring.DrainCompletions(cqes);
                for (int k = 0; k < got; k++)
                {
                    total += cqes[k].Result;
                }
                reaped += got;
            }
        }
        return total;
    }
}
