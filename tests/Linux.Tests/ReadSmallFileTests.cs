namespace VirtioFsd.Linux.Tests;

/// <summary>The whole-file read start-up uses for /proc values instead of File.ReadAllText.</summary>
public class ReadSmallFileTests
{
    [Fact]
    public void ReadsTheWholeFile()
    {
        string path = Path.GetTempFileName();
        try
        {
            File.WriteAllText(path, "1048576\n");
            Span<byte> buffer = stackalloc byte[32];
            int n = Libc.ReadSmallFile(path, buffer);
            Assert.Equal("1048576\n"u8.ToArray(), buffer[..n].ToArray());
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void ReadsAProcFileAsTheRuntimeDoes()
    {
        Span<byte> buffer = stackalloc byte[64];
        int n = Libc.ReadSmallFile("/proc/sys/fs/nr_open", buffer);
        Assert.True(n > 0, $"read returned {n}");
        Assert.Equal(File.ReadAllText("/proc/sys/fs/nr_open"), System.Text.Encoding.ASCII.GetString(buffer[..n]));
    }

    [Fact]
    public void StopsAtTheEndOfTheBuffer()
    {
        string path = Path.GetTempFileName();
        try
        {
            File.WriteAllText(path, new string('x', 100));
            Span<byte> buffer = stackalloc byte[10];
            Assert.Equal(10, Libc.ReadSmallFile(path, buffer));
            Assert.Equal(0, Libc.ReadSmallFile(path, Span<byte>.Empty));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void ErrorsAreNegativeErrno()
    {
        Span<byte> buffer = stackalloc byte[8];
        Assert.Equal(-Errno.ENOENT, Libc.ReadSmallFile("/nonexistent/virtiofsd-test", buffer));
        // A directory opens but cannot be read.
        Assert.Equal(-Errno.EISDIR, Libc.ReadSmallFile("/", buffer));
    }
}
