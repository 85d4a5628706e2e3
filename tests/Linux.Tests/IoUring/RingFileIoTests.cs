using Microsoft.Win32.SafeHandles;
using VirtioFsd.Linux.IoUring;
using static VirtioFsd.Linux.Tests.IoUring.RingTestSupport;

namespace VirtioFsd.Linux.Tests.IoUring;

/// <summary>Data moving between a host file and native memory: vectored, single-buffer and fixed-buffer I/O.</summary>
// Unsafe for native pointers handed to the kernel; sound because every buffer is a NativeBuffer or a
// stackalloc that stays alive until the completion that uses it has been reaped.
public sealed unsafe class RingFileIoTests : IDisposable
{
    private readonly TempDirectory _dir = new("virtiofsd-io-uring-file-io-");

    public void Dispose() => _dir.Dispose();

    private (SafeFileHandle Handle, int Fd) OpenFile(string name)
    {
        SafeFileHandle h = File.OpenHandle(_dir.Combine(name), FileMode.OpenOrCreate, FileAccess.ReadWrite);
        return (h, (int)h.DangerousGetHandle());
    }

    private static void Fill(Span<byte> span, int seed)
    {
        for (int i = 0; i < span.Length; i++)
        {
            span[i] = (byte)((i * 7) + seed);
        }
    }

    [Fact]
    public void WritevThenReadvRoundTripsData()
    {
        using Ring ring = CreateRing(8);
        (SafeFileHandle handle, int fd) = OpenFile("data");
        using (handle)
        using (var src = new NativeBuffer(8192))
        using (var dst = new NativeBuffer(8192))
        {
            Fill(src.Span, 3);
            // Three unequal segments, like a guest buffer split across descriptors.
            IoVec* w = stackalloc IoVec[] { src.AsIoVec(0, 100), src.AsIoVec(100, 4096), src.AsIoVec(4196, 3000) };
            Sqe(ring).Writev(fd, w, 3, 512, 1);
            IoUringCqe wc = CompleteOne(ring);
            Assert.Equal(1ul, wc.UserData);
            Assert.Equal(7196, wc.Result);

            Sqe(ring).Fsync(fd, dataSync: true, 2);
            Assert.Equal(0, CompleteOne(ring).Result);
            Sqe(ring).Fsync(fd, dataSync: false, 3);
            Assert.Equal(0, CompleteOne(ring).Result);

            IoVec* r = stackalloc IoVec[] { dst.AsIoVec(0, 5000), dst.AsIoVec(5000, 2196) };
            Sqe(ring).Readv(fd, r, 2, 512, 4);
            Assert.Equal(7196, CompleteOne(ring).Result);
            Assert.True(src.Span[..7196].SequenceEqual(dst.Span[..7196]));

            byte[] onDisk = File.ReadAllBytes(_dir.Combine("data"));
            Assert.Equal(512 + 7196, onDisk.Length);
            Assert.True(onDisk.AsSpan(0, 512).IndexOfAnyExcept((byte)0) < 0);
            Assert.True(onDisk.AsSpan(512).SequenceEqual(src.Span[..7196]));
        }
    }

    [Fact]
    public void ReadvAtAndPastEndOfFileIsShort()
    {
        using Ring ring = CreateRing(8);
        byte[] content = new byte[1000];
        Fill(content, 9);
        File.WriteAllBytes(_dir.Combine("short"), content);
        (SafeFileHandle handle, int fd) = OpenFile("short");
        using (handle)
        using (var dst = new NativeBuffer(4096))
        {
            IoVec* iov = stackalloc IoVec[] { dst.AsIoVec(0, 4096) };
            Sqe(ring).Readv(fd, iov, 1, 0, 1);
            Assert.Equal(1000, CompleteOne(ring).Result);
            Assert.True(dst.Span[..1000].SequenceEqual(content));

            Sqe(ring).Readv(fd, iov, 1, 900, 2);
            Assert.Equal(100, CompleteOne(ring).Result);
            Sqe(ring).Readv(fd, iov, 1, 1000, 3);
            Assert.Equal(0, CompleteOne(ring).Result);
            Sqe(ring).Readv(fd, iov, 1, 1 << 30, 4);
            Assert.Equal(0, CompleteOne(ring).Result);
        }
    }

    [Fact]
    public void ManyReadsInFlightCompleteEachWithItsOwnData()
    {
        using Ring ring = CreateRing(32);
        const int Blocks = 64;
        byte[] content = new byte[Blocks * 4096];
        Fill(content, 1);
        File.WriteAllBytes(_dir.Combine("many"), content);
        (SafeFileHandle handle, int fd) = OpenFile("many");
        using (handle)
        using (var dst = new NativeBuffer(Blocks * 4096))
        {
            // Blocks in reverse order, twice the SQ size: completions are matched by user_data only.
            IoVec* iov = stackalloc IoVec[Blocks];
            for (int i = 0; i < Blocks; i++)
            {
                int block = Blocks - 1 - i;
                iov[i] = dst.AsIoVec(block * 4096, 4096);
                Sqe(ring).Readv(fd, &iov[i], 1, block * 4096L, (ulong)block);
            }
            Dictionary<ulong, IoUringCqe> done = CompleteMany(ring, Blocks);
            Assert.All(done.Values, c => Assert.Equal(4096, c.Result));
            Assert.True(dst.Span.SequenceEqual(content));
        }
    }

    [Fact]
    public void ReadAndWriteSingleBuffer()
    {
        using Ring ring = CreateRing(4);
        (SafeFileHandle handle, int fd) = OpenFile("single");
        using (handle)
        using (var buf = new NativeBuffer(4096))
        {
            Fill(buf.Span, 5);
            Sqe(ring).Write(fd, buf.Pointer, 300, 0, 1);
            Assert.Equal(300, CompleteOne(ring).Result);
            buf.Span.Clear();
            Sqe(ring).Read(fd, buf.Pointer, 4096, 0, 2);
            Assert.Equal(300, CompleteOne(ring).Result);
            byte[] expected = new byte[300];
            Fill(expected, 5);
            Assert.True(buf.Span[..300].SequenceEqual(expected));
        }
    }

    [Fact]
    public void FixedBuffersRegisteredUpFrontCarryData()
    {
        using Ring ring = CreateRing(4);
        (SafeFileHandle handle, int fd) = OpenFile("fixed");
        using (handle)
        using (var region = new NativeBuffer(64 * 1024))
        {
            IoVec* table = stackalloc IoVec[] { region.AsIoVec(0, region.Length) };
            Assert.Equal(0, ring.RegisterBuffers(new ReadOnlySpan<IoVec>(table, 1)));
            Fill(region.Span[..8192], 11);

            Sqe(ring).WriteFixed(fd, region.Pointer, 8192, 0, 0, 1);
            Assert.Equal(8192, CompleteOne(ring).Result);
            Sqe(ring).ReadFixed(fd, region.Pointer + 16384, 8192, 0, 0, 2);
            Assert.Equal(8192, CompleteOne(ring).Result);
            Assert.True(region.Span[..8192].SequenceEqual(region.Span.Slice(16384, 8192)));

            // An address outside the registered buffer is refused, not served.
            byte* outside = region.Pointer + region.Length - 100;
            Sqe(ring).ReadFixed(fd, outside, 4096, 0, 0, 3);
            Assert.Equal(-Errno.EFAULT, CompleteOne(ring).Result);

            Assert.Equal(0, ring.UnregisterBuffers());
        }
    }

    [Fact]
    public void SparseBufferTableIsFilledAndClearedLikeHotPluggedRegions()
    {
        using Ring ring = CreateRing(4);
        (SafeFileHandle handle, int fd) = OpenFile("sparse");
        using (handle)
        using (var region = new NativeBuffer(16 * 1024))
        {
            File.WriteAllBytes(_dir.Combine("sparse"), new byte[4096]);
            Assert.Equal(0, ring.RegisterSparseBuffers(8));

            // Slot 2 empty: refused.
            Sqe(ring).ReadFixed(fd, region.Pointer, 4096, 0, 2, 1);
            Assert.True(CompleteOne(ring).Result < 0);

            IoVec* slot = stackalloc IoVec[] { region.AsIoVec(0, region.Length) };
            Assert.Equal(1, ring.UpdateBuffers(2, new ReadOnlySpan<IoVec>(slot, 1)));
            Sqe(ring).ReadFixed(fd, region.Pointer, 4096, 0, 2, 2);
            Assert.Equal(4096, CompleteOne(ring).Result);

            // Removing the region (an empty iovec) empties the slot again.
            IoVec* empty = stackalloc IoVec[] { default };
            Assert.Equal(1, ring.UpdateBuffers(2, new ReadOnlySpan<IoVec>(empty, 1)));
            Sqe(ring).ReadFixed(fd, region.Pointer, 4096, 0, 2, 3);
            Assert.True(CompleteOne(ring).Result < 0);

            // A slot index past the table is an error value, not a crash.
            Sqe(ring).ReadFixed(fd, region.Pointer, 4096, 0, 100, 4);
            Assert.True(CompleteOne(ring).Result < 0);
        }
    }

    [Fact]
    public void FallocateExtendsTheFile()
    {
        using Ring ring = CreateRing(4);
        (SafeFileHandle handle, int fd) = OpenFile("falloc");
        using (handle)
        {
            Sqe(ring).Fallocate(fd, 0, 4096, 1 << 20, 1);
            Assert.Equal(0, CompleteOne(ring).Result);
            Assert.Equal(4096 + (1 << 20), new FileInfo(_dir.Combine("falloc")).Length);
        }
    }

    [Fact]
    public void BadDescriptorIsAnErrorCompletion()
    {
        using Ring ring = CreateRing(4);
        using var buf = new NativeBuffer(4096);
        IoVec* iov = stackalloc IoVec[] { buf.AsIoVec(0, 4096) };
        Sqe(ring).Readv(-1, iov, 1, 0, 7);
        IoUringCqe cqe = CompleteOne(ring);
        Assert.Equal(7ul, cqe.UserData);
        Assert.Equal(-Errno.EBADF, cqe.Result);
    }
}
