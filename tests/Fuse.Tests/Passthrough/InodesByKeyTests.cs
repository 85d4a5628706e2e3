using VirtioFsd.Fuse.FileSystem;
using VirtioFsd.Fuse.Passthrough;

namespace VirtioFsd.Fuse.Tests.Passthrough;

/// <summary>The inodes-by-identity set: look-up by key, take-over of a key (recycled inode numbers), and removal.</summary>
public class InodesByKeyTests
{
    private static Inode Node(ulong id, InodeKey key) => new(new NodeId(id), key, -1, 0x8000, isSubmountRoot: false);

    [Fact]
    public void A_key_finds_its_holder_and_only_it()
    {
        var set = new InodesByKey();
        var k1 = new InodeKey(1, 100, 7);
        Inode a = Node(2, k1);
        Assert.True(set.TryAdd(a));
        Assert.True(set.TryGetValue(k1, out Inode? found));
        Assert.Same(a, found);
        Assert.False(set.TryGetValue(k1 with { Ino = 101 }, out _));
        Assert.False(set.TryGetValue(k1 with { MountId = 8 }, out _));
        Assert.False(set.TryGetValue(k1 with { Dev = 2 }, out _));
        Assert.False(set.TryAdd(Node(3, k1))); // a second inode with the key: the first keeps it
        Assert.True(set.TryGetValue(k1, out found));
        Assert.Same(a, found);
    }

    [Fact]
    public void A_new_holder_takes_the_key_over_and_the_old_one_cannot_remove_it()
    {
        var set = new InodesByKey();
        var key = new InodeKey(1, 100, 7);
        Inode old = Node(2, key), recycled = Node(3, key);
        set.TryAdd(old);
        set.Set(recycled);
        Assert.Equal(1, set.Count);
        Assert.True(set.TryGetValue(key, out Inode? found));
        Assert.Same(recycled, found);

        set.RemoveIfHolder(old); // the old node is forgotten later: the key stays with the new one
        Assert.True(set.TryGetValue(key, out found));
        Assert.Same(recycled, found);

        set.RemoveIfHolder(recycled);
        Assert.False(set.TryGetValue(key, out _));
        Assert.Equal(0, set.Count);
    }

    [Fact]
    public void Many_keys_survive_growth_and_trimming()
    {
        var set = new InodesByKey();
        var nodes = new List<Inode>();
        for (ulong i = 0; i < 5000; i++)
        {
            var n = Node(i + 2, new InodeKey(i % 3, i, i % 5));
            nodes.Add(n);
            Assert.True(set.TryAdd(n));
        }
        for (int i = 0; i < nodes.Count; i += 2)
        {
            set.RemoveIfHolder(nodes[i]);
        }
        set.TrimExcess();
        for (int i = 0; i < nodes.Count; i++)
        {
            bool found = set.TryGetValue(nodes[i].Key, out Inode? n);
            Assert.Equal(i % 2 == 1, found);
            if (found)
            {
                Assert.Same(nodes[i], n);
            }
        }
    }
}
