using System.Diagnostics.CodeAnalysis;

namespace VirtioFsd.Fuse.Passthrough;

/// <summary>
/// The <see cref="InodeTable"/>'s inodes by host identity: a set of the inodes themselves, compared by their
/// <see cref="Inode.Key"/> and looked up by an <see cref="InodeKey"/> through an alternate comparer. A
/// Dictionary&lt;InodeKey, Inode&gt; stored the 24-byte key beside the inode that already holds it: 40 bytes per entry
/// where the set's are 16, and every doubling of the table copied (and left for the collector) the larger array.
/// Guarded by the table's lock.
/// </summary>
internal sealed class InodesByKey
{
    private readonly HashSet<Inode> _set = new(KeyComparer.Instance);
    private readonly HashSet<Inode>.AlternateLookup<InodeKey> _byKey;

    public InodesByKey()
    {
        _byKey = _set.GetAlternateLookup<InodeKey>();
    }

    public int Count => _set.Count;

    public bool TryGetValue(InodeKey key, [NotNullWhen(true)] out Inode? inode) => _byKey.TryGetValue(key, out inode);

    /// <summary>Adds <paramref name="inode"/> under its key unless some inode holds that key already; whether it did.</summary>
    public bool TryAdd(Inode inode) => _set.Add(inode);

    /// <summary>Makes <paramref name="inode"/> the holder of its key, in place of any inode that held it.</summary>
    public void Set(Inode inode)
    {
        // A new inode's key is almost always free: one hash operation then; a recycled inode number takes three.
        if (!_set.Add(inode))
        {
            _byKey.Remove(inode.Key);
            _set.Add(inode);
        }
    }

    /// <summary>Removes <paramref name="inode"/> if it is the one holding its key (not an inode that took the key over).</summary>
    public void RemoveIfHolder(Inode inode)
    {
        if (_byKey.TryGetValue(inode.Key, out Inode? holder) && ReferenceEquals(holder, inode))
        {
            _byKey.Remove(inode.Key);
        }
    }

    public void TrimExcess() => _set.TrimExcess();

    private sealed class KeyComparer : IEqualityComparer<Inode>, IAlternateEqualityComparer<InodeKey, Inode>
    {
        public static readonly KeyComparer Instance = new();

        public bool Equals(Inode? x, Inode? y) => ReferenceEquals(x, y) || (x is not null && y is not null && x.Key == y.Key);

        public int GetHashCode(Inode inode) => inode.Key.GetHashCode();

        public bool Equals(InodeKey key, Inode other) => other.Key == key;

        public int GetHashCode(InodeKey key) => key.GetHashCode();

        /// <summary>Never called: inodes are only added as themselves, not made from a key.</summary>
        public Inode Create(InodeKey key) => throw new NotSupportedException("an inode is not made from its key alone");
    }
}
