using VirtioFsd.Fuse.FileSystem;
using VirtioFsd.Linux;
using static VirtioFsd.Fuse.Tests.Passthrough.Share;

namespace VirtioFsd.Fuse.Tests.Passthrough;

/// <summary>Requests from several queue workers at once: counts stay exact and no fd is closed under a user.</summary>
public sealed class ConcurrencyTests : IDisposable
{
    private readonly Share _s = new();

    public void Dispose() => _s.Dispose();

    [Fact]
    public void ParallelLookupOpenReadReleaseForget_LeavesNothingBehind()
    {
        const int Files = 8;
        for (int i = 0; i < Files; i++)
        {
            _s.WriteHost($"f{i}", $"content-{i}");
        }
        int failures = 0;
        Parallel.For(0, 4000, new ParallelOptions { MaxDegreeOfParallelism = 8 }, i =>
        {
            string name = $"f{i % Files}";
            if (_s.Fs.Lookup(Root, NodeId.Root, N(name), out Entry e) != 0)
            {
                Interlocked.Increment(ref failures);
                return;
            }
            if (_s.Fs.Open(Root, e.Node, (uint)Libc.O_RDONLY, out OpenResult r) != 0)
            {
                Interlocked.Increment(ref failures);
            }
            else
            {
                byte[] data = _s.Read(e.Node, r.Handle, 0, 64);
                if (System.Text.Encoding.UTF8.GetString(data) != $"content-{i % Files}")
                {
                    Interlocked.Increment(ref failures);
                }
                _s.Fs.Release(Root, e.Node, r.Handle, 0, 0, false);
            }
            _s.Fs.Forget(e.Node, 1);
        });
        Assert.Equal(0, failures);
        Assert.Equal(1, _s.Fs.NodeCount);
        Assert.Equal(0, _s.Fs.HandleCount);
    }

    [Fact]
    public void ReleaseRacingReads_NeverReadsAnotherFile()
    {
        _s.WriteHost("a", new string('a', 4096));
        _s.WriteHost("b", new string('b', 4096));
        NodeId a = _s.Lookup(NodeId.Root, "a").Node;
        NodeId b = _s.Lookup(NodeId.Root, "b").Node;
        int wrong = 0;
        for (int round = 0; round < 200; round++)
        {
            HandleId h = _s.Open(a, Libc.O_RDONLY);
            Parallel.Invoke(
                () =>
                {
                    for (int k = 0; k < 20; k++)
                    {
                        byte[] buffer = new byte[16];
                        long n = ReadRaw(a, h, buffer);
                        if (n > 0 && buffer[0] != (byte)'a')
                        {
                            Interlocked.Increment(ref wrong);
                        }
                    }
                },
                () => _s.Fs.Release(Root, a, h, 0, 0, false),
                () =>
                {
                    // Opens racing the release would reuse a closed fd number if the read's fd were closed under it.
                    HandleId hb = _s.Open(b, Libc.O_RDONLY);
                    _s.Fs.Release(Root, b, hb, 0, 0, false);
                });
        }
        Assert.Equal(0, wrong);
        Assert.Equal(0, _s.Fs.HandleCount);
    }

    private unsafe long ReadRaw(NodeId node, HandleId h, byte[] buffer)
    {
        // Pinned by fixed for the duration of the call.
        fixed (byte* p = buffer)
        {
            IoVec[] iov = [new IoVec((nint)p, (nuint)buffer.Length)];
            return _s.Fs.Read(Root, node, h, 0, iov);
        }
    }
}
