using System.Runtime.InteropServices;
using VirtioFsd.Lifecycle;
using VirtioFsd.Linux;

namespace VirtioFsd.Tests.Lifecycle;

/// <summary>
/// The working-set trim (docs/benchmark.md "One native binary"): it drops the page-cache pages of read-only file
/// mappings, keeps the pages a process has written (a private copy dropped would bring back the file's bytes), and a
/// process whose code and read-only data were dropped this way keeps working.
/// </summary>
public sealed unsafe class WorkingSetTests : IDisposable
{
    private const int Pages = 4;
    private readonly string _file = Path.Combine(Path.GetTempPath(), $"virtiofsd-ws-{Environment.ProcessId}-{Guid.NewGuid():N}");

    public WorkingSetTests() => WorkingSet.OpenPageMap();

    public void Dispose() => File.Delete(_file);

    [Fact]
    public void Page_cache_pages_are_dropped_and_a_written_page_keeps_its_bytes()
    {
        long page = Environment.SystemPageSize;
        byte[] content = new byte[Pages * page];
        for (int i = 0; i < Pages; i++)
        {
            content.AsSpan((int)(i * page), (int)page).Fill((byte)('a' + i));
        }
        File.WriteAllBytes(_file, content);
        int fd = Libc.OpenAbsolute(_file, Libc.O_RDONLY | Libc.O_CLOEXEC);
        Assert.True(fd >= 0);
        using var owned = new UnixFd(fd);
        // As a loader maps a segment whose page the runtime then patches: private, written once, read-only again.
        nint map = Libc.Mmap(0, (ulong)(Pages * page), Libc.PROT_READ | Libc.PROT_WRITE, Libc.MAP_PRIVATE, fd, 0);
        Assert.True(map > 0);
        try
        {
            byte* p = (byte*)map;
            int sum = 0;
            for (int i = 0; i < Pages; i++)
            {
                sum += p[i * page];
            }
            Assert.Equal('a' + 'b' + 'c' + 'd', sum);
            p[page] = (byte)'X';
            Assert.Equal(0, Libc.Mprotect(map, (ulong)(Pages * page), Libc.PROT_READ));
            Assert.All(Enumerable.Range(0, Pages), i => Assert.True(Present(map + (nint)(i * page)), $"page {i} mapped before"));

            long dropped = WorkingSet.DropFilePages(map, map + (nint)(Pages * page));

            Assert.Equal(3 * page, dropped);
            Assert.False(Present(map), "page 0 dropped");
            Assert.True(Present(map + (nint)page), "the written page kept");
            Assert.False(Present(map + (nint)(2 * page)), "page 2 dropped");
            Assert.False(Present(map + (nint)(3 * page)), "page 3 dropped");
            Assert.Equal((byte)'X', p[page]);
            Assert.Equal((byte)'b', p[page + 1]);
            Assert.Equal((byte)'a', p[0]);
            Assert.Equal((byte)'d', p[(3 * page) + 5]);
        }
        finally
        {
            Libc.Munmap(map, (ulong)(Pages * page));
        }
    }

    [Fact]
    public void A_process_whose_code_and_read_only_data_were_dropped_keeps_working()
    {
        long dropped = WorkingSet.Trim();

        // This test host's own code, the runtime's, the JIT's and libc's: megabytes of read-only segments.
        Assert.True(dropped > 1 << 20, $"{dropped} bytes dropped");
        // Code that has not run yet (a new generic instantiation is compiled now), an exception, a collection.
        var list = new List<(Guid, DateTimeOffset)> { (Guid.NewGuid(), DateTimeOffset.UtcNow) };
        Assert.Single(list);
        Exception e = Assert.Throws<InvalidOperationException>(ThrowAfterTrim);
        Assert.Contains("after the trim", e.ToString(), StringComparison.Ordinal);
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        Assert.Equal("42", string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{42}"));
    }

    private static void ThrowAfterTrim() => throw new InvalidOperationException("after the trim");

    /// <summary>Bit 63 of the page's /proc/self/pagemap entry.</summary>
    private static bool Present(nint address)
    {
        using var map = File.OpenHandle("/proc/self/pagemap");
        Span<byte> entry = stackalloc byte[8];
        Assert.Equal(8, RandomAccess.Read(map, entry, address / Environment.SystemPageSize * 8));
        return (MemoryMarshal.Read<ulong>(entry) & (1UL << 63)) != 0;
    }
}
