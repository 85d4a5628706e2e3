using Microsoft.Win32.SafeHandles;
using VirtioFsd.Linux.IoUring;
using Xunit.Abstractions;
using static VirtioFsd.Linux.Tests.IoUring.RingTestSupport;

namespace VirtioFsd.Linux.Tests.IoUring;

// Unsafe for native pointers handed to the kernel; sound because every buffer is a NativeBuffer or a
// stackalloc that stays alive until the completion that uses it has been reaped.
/// <summary>
/// 4 KiB random reads of a page-cached file: pread vs io_uring READV one at a time and batched 32
/// per io_uring_enter. Prints numbers only (docs/io_uring.md records them); it asserts that every
/// read returned 4096 bytes, never how long anything took. IOURING_BENCH_OPS sets reads per case
/// (default 4000 so the regular test run stays short; the documented figures use 64000).
/// </summary>
[Trait("Category", "Benchmark")]
public sealed unsafe class IoUringReadBenchmark(ITestOutputHelper output)
{
    private const int BlockSize = 4096;
    private const int FileBlocks = 4096; // 16 MiB: fits the page cache, larger than the CPU caches
    private const int Batch = 32;

    [SkippableTheory]
    [InlineData("/tmp")]      // ext4 here
    [InlineData("/dev/shm")]  // tmpfs
    public void PreadVersusIoUringReadv(string directory)
    {
        // A benchmark that cannot run says so in the results (skipped, with the reason); it never passes.
        Skip.IfNot(Directory.Exists(directory), $"{directory} does not exist on this machine");
        int ops = int.TryParse(Environment.GetEnvironmentVariable("IOURING_BENCH_OPS"), out int n) && n > 0 ? n : 4_000;
        ops -= ops % Batch;
        string path = System.IO.Path.Combine(directory, "iouring-bench-" + Guid.NewGuid().ToString("N"));
        try
        {
            var content = new byte[FileBlocks * BlockSize];
            Random.Shared.NextBytes(content);
            File.WriteAllBytes(path, content); // just written: every page is in the page cache
            using SafeFileHandle handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read);
            int fd = (int)handle.DangerousGetHandle();
            long[] offsets = new long[ops];
            var rng = new Random(42);
            for (int i = 0; i < ops; i++)
            {
                offsets[i] = (long)rng.Next(FileBlocks) * BlockSize;
            }
            using var buffers = new NativeBuffer(Batch * BlockSize);

            output.WriteLine($"{directory}: {ops} random 4 KiB reads per case, {Environment.ProcessorCount} CPUs, kernel {Environment.OSVersion.Version}, loadavg {File.ReadAllText("/proc/loadavg").Trim()}");
            Report("pread", ops, () => PreadLoop(fd, offsets, buffers));
            Report("preadv (1 iovec)", ops, () => PreadvLoop(fd, offsets, buffers));
            foreach ((string name, uint flags) in new[]
            {
                ("default", 0u),
                ("SINGLE_ISSUER|DEFER_TASKRUN", IoUringConstants.SetupSingleIssuer | IoUringConstants.SetupDeferTaskrun),
            })
            {
                using Ring ring = CreateRing(64, new RingOptions { SetupFlags = flags });
                Report($"io_uring READV 1/enter, {name}", ops, () => RingLoop(ring, fd, offsets, buffers, 1));
                Report($"io_uring READV {Batch}/enter, {name}", ops, () => RingLoop(ring, fd, offsets, buffers, Batch));
            }
            // The first case runs right after the file was written; repeating it shows the order effect.
            Report("pread (repeated last)", ops, () => PreadLoop(fd, offsets, buffers));
        }
        finally
        {
            File.Delete(path);
        }
    }

    /// <summary>Five runs after a warm-up: wall time per read (minimum, median) and process CPU per read (median, io-wq included).</summary>
    private void Report(string name, int ops, Func<long> run) => MicroBenchmark.Report(output.WriteLine, name, 42, "read", ops, BlockSize, run);

    private static long PreadLoop(int fd, long[] offsets, NativeBuffer buffers)
    {
        long total = 0;
        var span = buffers.Span[..BlockSize];
        foreach (long off in offsets)
        {
            total += Libc.Pread(fd, span, off);
        }
        return total;
    }

    private static long PreadvLoop(int fd, long[] offsets, NativeBuffer buffers)
    {
        long total = 0;
        ReadOnlySpan<IoVec> iov = [buffers.AsIoVec(0, BlockSize)];
        foreach (long off in offsets)
        {
            total += Libc.Preadv(fd, iov, off);
        }
        return total;
    }

    private static long RingLoop(Ring ring, int fd, long[] offsets, NativeBuffer buffers, int batch)
    {
        IoVec* iov = stackalloc IoVec[Batch];
        for (int i = 0; i < Batch; i++)
        {
            iov[i] = buffers.AsIoVec(i * BlockSize, BlockSize);
        }
        Span<IoUringCqe> cqes = stackalloc IoUringCqe[Batch];
        long total = 0;
        for (int i = 0; i < offsets.Length; i += batch)
        {
            for (int j = 0; j < batch; j++)
            {
                if (!ring.TryGetSqe(out SubmissionEntry sqe))
                {
                    throw new InvalidOperationException("SQ full");
                }
                sqe.Readv(fd, &iov[j], 1, offsets[i + j], (ulong)j);
            }
            int reaped = 0;
            while (reaped < batch)
            {
                int r = ring.SubmitAndWait((uint)(batch - reaped), null);
                if (r < 0)
                {
                    throw new InvalidOperationException(Errno.Describe(r));
                }
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
