using VirtioFsd.Fuse.FileSystem;
using VirtioFsd.Linux;
using static VirtioFsd.Fuse.Tests.Passthrough.Share;

namespace VirtioFsd.Fuse.Tests.Passthrough;

/// <summary>POSIX record locks between two guest lock owners, and flock(2) locks between two handles.</summary>
public sealed class LockTests : IDisposable
{
    private const ulong OwnerA = 0xA;
    private const ulong OwnerB = 0xB;
    private const ulong ToEnd = long.MaxValue;

    private readonly Share _s = new();
    private readonly NodeId _f;
    private readonly HandleId _ha;
    private readonly HandleId _hb;

    public LockTests()
    {
        _s.WriteHost("f", new string('x', 1000), 0b110_110_110);
        _f = _s.Lookup(NodeId.Root, "f").Node;
        _ha = _s.Open(_f, Libc.O_RDWR);
        _hb = _s.Open(_f, Libc.O_RDWR);
    }

    public void Dispose() => _s.Dispose();

    private static FileLock Lk(short type, ulong start, ulong end, uint pid = 0) =>
        new() { Type = (uint)type, Start = start, End = end, Pid = pid };

    private int SetLk(HandleId h, ulong owner, FileLock lk) => _s.Fs.SetLock(Root, _f, h, owner, lk, wait: false, isFlock: false);

    [Fact]
    public void TwoOwners_WriteLocksConflict_GetLkReportsTheHolder()
    {
        Assert.Equal(0, SetLk(_ha, OwnerA, Lk(Libc.F_WRLCK, 0, 99, pid: 1111)));
        Assert.Equal(-Errno.EAGAIN, SetLk(_hb, OwnerB, Lk(Libc.F_WRLCK, 50, 60, pid: 2222)));
        Assert.Equal(-Errno.EAGAIN, SetLk(_hb, OwnerB, Lk(Libc.F_RDLCK, 99, ToEnd, pid: 2222)));

        Assert.Equal(0, _s.Fs.GetLock(Root, _f, _hb, OwnerB, Lk(Libc.F_WRLCK, 50, 60, pid: 2222), out FileLock c));
        Assert.Equal((uint)Libc.F_WRLCK, c.Type);
        Assert.Equal((0UL, 99UL), (c.Start, c.End));
        Assert.Equal(1111u, c.Pid);

        // Outside the locked range there is no conflict.
        Assert.Equal(0, _s.Fs.GetLock(Root, _f, _hb, OwnerB, Lk(Libc.F_WRLCK, 100, ToEnd), out c));
        Assert.Equal((uint)Libc.F_UNLCK, c.Type);
        Assert.Equal(0, SetLk(_hb, OwnerB, Lk(Libc.F_WRLCK, 100, ToEnd, pid: 2222)));
    }

    [Fact]
    public void Unlock_and_flush_before_any_lock_are_no_ops_and_locks_work_after_them()
    {
        // The inode's lock owners are made by the first lock request: an unlock or a close before it finds none.
        Assert.Equal(0, SetLk(_hb, OwnerB, Lk(Libc.F_UNLCK, 0, ToEnd)));
        Assert.Equal(0, _s.Fs.Flush(Root, _f, _hb, OwnerB));
        Assert.Equal(0, _s.Fs.Flush(Root, _f, _ha, OwnerA));

        Assert.Equal(0, SetLk(_ha, OwnerA, Lk(Libc.F_WRLCK, 0, 99, pid: 1111)));
        Assert.Equal(-Errno.EAGAIN, SetLk(_hb, OwnerB, Lk(Libc.F_WRLCK, 0, 0)));
        Assert.Equal(0, _s.Fs.Flush(Root, _f, _ha, OwnerA));
        Assert.Equal(0, SetLk(_hb, OwnerB, Lk(Libc.F_WRLCK, 0, 0)));
    }

    [Fact]
    public void SameOwner_NeverConflictsWithItself_EvenThroughAnotherHandle()
    {
        Assert.Equal(0, SetLk(_ha, OwnerA, Lk(Libc.F_WRLCK, 0, ToEnd)));
        Assert.Equal(0, SetLk(_hb, OwnerA, Lk(Libc.F_WRLCK, 10, 20)));
        Assert.Equal(0, _s.Fs.GetLock(Root, _f, _hb, OwnerA, Lk(Libc.F_WRLCK, 0, ToEnd), out FileLock c));
        Assert.Equal((uint)Libc.F_UNLCK, c.Type);
    }

    [Fact]
    public void ReadLocks_Share_WriteLockWaitsForBoth()
    {
        Assert.Equal(0, SetLk(_ha, OwnerA, Lk(Libc.F_RDLCK, 0, 9)));
        Assert.Equal(0, SetLk(_hb, OwnerB, Lk(Libc.F_RDLCK, 0, 9)));
        Assert.Equal(-Errno.EAGAIN, SetLk(_hb, OwnerB, Lk(Libc.F_WRLCK, 0, 9)));
        Assert.Equal(0, SetLk(_ha, OwnerA, Lk(Libc.F_UNLCK, 0, ToEnd)));
        // B holds the only read lock now: upgrading its own lock succeeds.
        Assert.Equal(0, SetLk(_hb, OwnerB, Lk(Libc.F_WRLCK, 0, 9)));
    }

    [Fact]
    public void Unlock_ReleasesForTheOtherOwner_AndPartialUnlockSplits()
    {
        Assert.Equal(0, SetLk(_ha, OwnerA, Lk(Libc.F_WRLCK, 0, 99)));
        Assert.Equal(0, SetLk(_ha, OwnerA, Lk(Libc.F_UNLCK, 40, 59)));
        Assert.Equal(0, SetLk(_hb, OwnerB, Lk(Libc.F_WRLCK, 40, 59)));
        Assert.Equal(-Errno.EAGAIN, SetLk(_hb, OwnerB, Lk(Libc.F_WRLCK, 39, 39)));
        Assert.Equal(-Errno.EAGAIN, SetLk(_hb, OwnerB, Lk(Libc.F_WRLCK, 60, 60)));
        // Unlocking what an owner never locked is a no-op.
        Assert.Equal(0, SetLk(_hb, 0xC, Lk(Libc.F_UNLCK, 0, ToEnd)));
    }

    [Fact]
    public void Flush_DropsTheClosingOwnersLocks_AsCloseDoes()
    {
        Assert.Equal(0, SetLk(_ha, OwnerA, Lk(Libc.F_WRLCK, 0, ToEnd)));
        Assert.Equal(-Errno.EAGAIN, SetLk(_hb, OwnerB, Lk(Libc.F_WRLCK, 0, 0)));
        // Owner B closing its own fd does not release A's locks.
        Assert.Equal(0, _s.Fs.Flush(Root, _f, _hb, OwnerB));
        Assert.Equal(-Errno.EAGAIN, SetLk(_hb, OwnerB, Lk(Libc.F_WRLCK, 0, 0)));
        Assert.Equal(0, _s.Fs.Flush(Root, _f, _ha, OwnerA));
        Assert.Equal(0, SetLk(_hb, OwnerB, Lk(Libc.F_WRLCK, 0, 0)));
    }

    [Fact]
    public void LockTypeMustMatchHandleAccess()
    {
        HandleId ro = _s.Open(_f, Libc.O_RDONLY);
        HandleId wo = _s.Open(_f, Libc.O_WRONLY);
        Assert.Equal(-Errno.EBADF, SetLk(ro, OwnerA, Lk(Libc.F_WRLCK, 0, 1)));
        Assert.Equal(-Errno.EBADF, SetLk(wo, OwnerA, Lk(Libc.F_RDLCK, 0, 1)));
        Assert.Equal(0, SetLk(ro, OwnerA, Lk(Libc.F_RDLCK, 0, 1)));
        Assert.Equal(0, SetLk(wo, OwnerB, Lk(Libc.F_WRLCK, 2, 3)));
    }

    [Fact]
    public void MalformedLocks_AreEINVAL()
    {
        Assert.Equal(-Errno.EINVAL, SetLk(_ha, OwnerA, Lk(7, 0, 1)));
        Assert.Equal(-Errno.EINVAL, SetLk(_ha, OwnerA, Lk(Libc.F_WRLCK, 10, 5)));
        Assert.Equal(-Errno.EINVAL, SetLk(_ha, OwnerA, Lk(Libc.F_WRLCK, ulong.MaxValue, ulong.MaxValue)));
        Assert.Equal(-Errno.EINVAL, _s.Fs.GetLock(Root, _f, _ha, OwnerA, Lk(Libc.F_UNLCK, 0, 1), out _));
        Assert.Equal(-Errno.EBADF, SetLk(new HandleId(999), OwnerA, Lk(Libc.F_WRLCK, 0, 1)));
    }

    [Fact]
    public void HostProcessLock_IsSeenByTheGuest()
    {
        int fd = Libc.Openat(Libc.AT_FDCWD, N(_s.Host("f")), Libc.O_RDWR | Libc.O_CLOEXEC);
        Assert.True(fd >= 0);
        try
        {
            Flock lk = new() { Type = Libc.F_WRLCK, Whence = 0, Start = 500, Len = 10 };
            Assert.Equal(0, Libc.FcntlLock(fd, Libc.F_OFD_SETLK, ref lk));
            Assert.Equal(-Errno.EAGAIN, SetLk(_ha, OwnerA, Lk(Libc.F_WRLCK, 505, 505)));
        }
        finally
        {
            Libc.Close(fd);
        }
        Assert.Equal(0, SetLk(_ha, OwnerA, Lk(Libc.F_WRLCK, 505, 505)));
    }

    [Fact]
    public void Flock_TwoHandlesConflict_UnlockAndReleaseFree_It()
    {
        FileLock ex = Lk(Libc.F_WRLCK, 0, 0);
        FileLock sh = Lk(Libc.F_RDLCK, 0, 0);
        Assert.Equal(0, _s.Fs.SetLock(Root, _f, _ha, OwnerA, ex, wait: false, isFlock: true));
        Assert.Equal(-Errno.EAGAIN, _s.Fs.SetLock(Root, _f, _hb, OwnerB, ex, wait: false, isFlock: true));
        Assert.Equal(-Errno.EAGAIN, _s.Fs.SetLock(Root, _f, _hb, OwnerB, sh, wait: false, isFlock: true));
        Assert.Equal(0, _s.Fs.SetLock(Root, _f, _ha, OwnerA, Lk(Libc.F_UNLCK, 0, 0), wait: false, isFlock: true));
        Assert.Equal(0, _s.Fs.SetLock(Root, _f, _hb, OwnerB, sh, wait: false, isFlock: true));
        Assert.Equal(0, _s.Fs.SetLock(Root, _f, _ha, OwnerA, sh, wait: false, isFlock: true));
        Assert.Equal(-Errno.EAGAIN, _s.Fs.SetLock(Root, _f, _ha, OwnerA, ex, wait: false, isFlock: true));

        // RELEASE with FUSE_RELEASE_FLOCK_UNLOCK frees B's lock, so A can upgrade.
        Assert.Equal(0, _s.Fs.Release(Root, _f, _hb, 0, OwnerB, releaseFlock: true));
        Assert.Equal(0, _s.Fs.SetLock(Root, _f, _ha, OwnerA, ex, wait: false, isFlock: true));
    }

    [Fact]
    public void Flock_AndPosixLocks_AreIndependent()
    {
        Assert.Equal(0, _s.Fs.SetLock(Root, _f, _ha, OwnerA, Lk(Libc.F_WRLCK, 0, 0), wait: false, isFlock: true));
        Assert.Equal(0, SetLk(_hb, OwnerB, Lk(Libc.F_WRLCK, 0, ToEnd)));
    }

    [Fact]
    public async Task SetLkw_WaitsUntilTheOtherOwnerUnlocks()
    {
        Assert.Equal(0, SetLk(_ha, OwnerA, Lk(Libc.F_WRLCK, 0, 9)));
        // The wait holds no thread: the call returns at once with a result that completes when the lock is granted.
        ValueTask<int> waiter = _s.Fs.SetLock(Root, _f, _hb, OwnerB, Lk(Libc.F_WRLCK, 5, 5), wait: true, isFlock: false, CancellationToken.None);
        Assert.False(waiter.IsCompleted);
        await Task.Delay(50);
        Assert.False(waiter.IsCompleted);
        Assert.Equal(0, SetLk(_ha, OwnerA, Lk(Libc.F_UNLCK, 0, 9)));
        Assert.Equal(0, await waiter);
        Assert.Equal(-Errno.EAGAIN, SetLk(_ha, OwnerA, Lk(Libc.F_WRLCK, 5, 5)));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task SetLkw_EndsWithEintrWhenCancelled_AndTakesNothing(bool isFlock)
    {
        // A queue that stops (GET_VRING_BASE, device reset) cancels its waiting locks; the wait must end.
        FileLock exclusive = isFlock ? Lk(Libc.F_WRLCK, 0, 0) : Lk(Libc.F_WRLCK, 0, 9);
        Assert.Equal(0, _s.Fs.SetLock(Root, _f, _ha, OwnerA, exclusive, wait: false, isFlock));
        using var cancel = new CancellationTokenSource();
        ValueTask<int> waiter = _s.Fs.SetLock(Root, _f, _hb, OwnerB, exclusive, wait: true, isFlock, cancel.Token);
        Assert.False(waiter.IsCompleted);
        await cancel.CancelAsync();
        Assert.Equal(-Errno.EINTR, await waiter);
        // B got nothing: once A lets go, B's non-waiting attempt succeeds and A's fails.
        Assert.Equal(0, _s.Fs.SetLock(Root, _f, _ha, OwnerA, isFlock ? Lk(Libc.F_UNLCK, 0, 0) : Lk(Libc.F_UNLCK, 0, 9), wait: false, isFlock));
        Assert.Equal(0, _s.Fs.SetLock(Root, _f, _hb, OwnerB, exclusive, wait: false, isFlock));
        Assert.Equal(-Errno.EAGAIN, _s.Fs.SetLock(Root, _f, _ha, OwnerA, exclusive, wait: false, isFlock));
    }
}
