using VirtioFsd.Fuse.FileSystem;
using VirtioFsd.Fuse.Passthrough;
using VirtioFsd.Linux;
using static VirtioFsd.Fuse.Tests.Passthrough.Share;

namespace VirtioFsd.Fuse.Tests.Passthrough;

/// <summary>
/// The guest's fd quota: every inode fd and open file counts while held and is given back when closed, so that
/// the count returns to zero once the guest lets go (a drift would refuse opens for ever), and the request past
/// the quota gets ENFILE.
/// </summary>
public class GuestFdQuotaTests
{
    [Theory]
    [InlineData(InodeFileHandleMode.Never, 1024)]
    [InlineData(InodeFileHandleMode.Prefer, 1024)]
    [InlineData(InodeFileHandleMode.Prefer, 0)]
    public void Held_fds_are_counted_refused_past_the_quota_and_all_given_back(InodeFileHandleMode mode, int cache)
    {
        const int Quota = 12;
        using var s = new Share(o => o with { GuestFdLimit = Quota, InodeFileHandles = mode, InodeFdCacheSize = cache });
        for (int i = 0; i < 2 * Quota; i++)
        {
            s.WriteHost($"f{i}", "x");
        }
        var nodes = new List<NodeId>();
        var handles = new List<(NodeId Node, HandleId Handle)>();
        int failure = 0;
        for (int i = 0; i < 2 * Quota && failure == 0; i++)
        {
            failure = s.Fs.Lookup(Root, NodeId.Root, N($"f{i}"), out Entry e);
            if (failure == 0)
            {
                nodes.Add(e.Node);
                failure = s.Fs.Open(Root, e.Node, (uint)Libc.O_RDONLY, out OpenResult o);
                if (failure == 0)
                {
                    handles.Add((e.Node, o.Handle));
                }
            }
        }
        Assert.Equal(-Errno.ENFILE, failure);
        Assert.Equal(Quota, s.Fs.GuestFds.Held);
        // A directory's own handle, a create, a mkdir: all refused at the quota, nothing left behind.
        Assert.Equal(-Errno.ENFILE, s.Fs.OpenDir(Root, NodeId.Root, 0, out _));
        Assert.Equal(-Errno.ENFILE, s.Fs.Mkdir(Root, NodeId.Root, N("d"), 0x1ed, out _));
        Assert.False(Directory.Exists(s.Host("d")));

        foreach ((NodeId node, HandleId handle) in handles)
        {
            Assert.Equal(0, s.Fs.Release(Root, node, handle, 0, 0, false));
        }
        foreach (NodeId node in nodes)
        {
            s.Fs.Forget(node, 1);
        }
        Assert.Equal(0, s.Fs.GuestFds.Held);
        Assert.Equal(0, s.Fs.Lookup(Root, NodeId.Root, N("f0"), out Entry again));
        s.Fs.Forget(again.Node, 1);
        s.Fs.Destroy();
        Assert.Equal(0, s.Fs.GuestFds.Held);
    }

    [Fact]
    public void The_default_quota_leaves_the_fds_in_use_and_a_reserve_below_the_process_fd_limit()
    {
        using var s = new Share();
        Assert.Equal(0, Libc.GetRlimit(Libc.RLIMIT_NOFILE, out Libc.RLimit rl));
        long soft = (long)rl.Current;
        long inUse = FdTable.Count();
        // Other tests of the assembly open and close fds meanwhile: within a margin of the count taken here.
        Assert.InRange(s.Fs.GuestFds.Limit, soft - inUse - GuestFdQuota.Reserve(soft) - 64, soft - GuestFdQuota.Reserve(soft));
    }
}
