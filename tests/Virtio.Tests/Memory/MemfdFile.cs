using VirtioFsd.Linux;

namespace VirtioFsd.Virtio.Tests.Memory;

/// <summary>A memfd of a given size for tests that hand fds to <see cref="VhostUser.Memory.GuestMemory"/>.</summary>
internal sealed class MemfdFile : IDisposable
{
    public MemfdFile(long size)
    {
        int fd = Libc.MemfdCreate("guest-memory-test", Libc.MFD_CLOEXEC);
        Assert.True(fd >= 0, $"memfd_create: {fd}");
        Assert.Equal(0, Libc.Ftruncate(fd, size));
        Fd = fd;
    }

    public int Fd { get; }

    /// <summary>Writes bytes at an offset of the file (through the file, not a mapping).</summary>
    public void WriteAt(long offset, ReadOnlySpan<byte> data) => Assert.Equal(data.Length, Libc.Pwrite(Fd, data, offset));

    public byte[] ReadAt(long offset, int length)
    {
        var buffer = new byte[length];
        Assert.Equal(length, Libc.Pread(Fd, buffer, offset));
        return buffer;
    }

    public void Dispose() => Libc.Close(Fd);
}
