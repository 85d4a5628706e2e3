using VirtioFsd.Fuse.FileSystem;
using VirtioFsd.Fuse.Passthrough;

namespace VirtioFsd.Fuse.Tests.Passthrough;

/// <summary>The fd cache's intrusive least-recently-used list: order, removal from anywhere, and misuse.</summary>
public class InodeFdCacheTests
{
    private static Inode Node(ulong id) => new(new NodeId(id), new InodeKey(1, id, 1), -1, 0x8000, isSubmountRoot: false);

    [Fact]
    public void The_first_added_leaves_first_and_removal_from_the_middle_keeps_the_order()
    {
        var cache = new InodeFdCache();
        Inode[] nodes = [Node(2), Node(3), Node(4), Node(5)];
        foreach (Inode n in nodes)
        {
            cache.AddLast(n);
        }
        Assert.Equal(4, cache.Count);
        Assert.All(nodes, n => Assert.True(n.InCache));

        cache.Remove(nodes[2]);
        Assert.False(nodes[2].InCache);
        Assert.Null(nodes[2].CachePrevious);
        Assert.Null(nodes[2].CacheNext);
        cache.Remove(nodes[2]); // not in the list: nothing happens
        Assert.Equal(3, cache.Count);

        cache.AddLast(nodes[2]); // used again: now the most recent
        Assert.Same(nodes[0], cache.RemoveFirst());
        Assert.Same(nodes[1], cache.RemoveFirst());
        Assert.Same(nodes[3], cache.RemoveFirst());
        Assert.Same(nodes[2], cache.RemoveFirst());
        Assert.Null(cache.RemoveFirst());
        Assert.Equal(0, cache.Count);
        Assert.All(nodes, n => Assert.False(n.InCache));
    }

    [Fact]
    public void Removing_the_only_and_the_last_node_leaves_a_usable_list()
    {
        var cache = new InodeFdCache();
        Inode a = Node(2), b = Node(3);
        cache.AddLast(a);
        cache.Remove(a);
        Assert.Null(cache.RemoveFirst());
        cache.AddLast(a);
        cache.AddLast(b);
        cache.Remove(b);
        cache.AddLast(b);
        Assert.Same(a, cache.RemoveFirst());
        Assert.Same(b, cache.RemoveFirst());
    }

    [Fact]
    public void Adding_a_node_twice_throws_instead_of_corrupting_the_list()
    {
        var cache = new InodeFdCache();
        Inode a = Node(2);
        cache.AddLast(a);
        Assert.Throws<InvalidOperationException>(() => cache.AddLast(a));
        Assert.Equal(1, cache.Count);
        Assert.Same(a, cache.RemoveFirst());
    }
}
