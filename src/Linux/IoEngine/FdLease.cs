namespace VirtioFsd.Linux.IoEngine;

/// <summary>
/// A host fd lent to one file operation. The fd stays open (a RELEASE racing the operation cannot close it and let
/// its number be reused under the kernel) until <see cref="Release"/> is called, exactly once, by the engine that
/// ran the operation, after the kernel is done with it.
/// </summary>
public readonly struct FdLease
{
    private readonly IFdLeaseOwner? _owner;
    private readonly object? _token;

    /// <param name="fd">The fd the operation uses.</param>
    /// <param name="owner">Who gets the lease back; null for an fd the caller keeps open anyway.</param>
    /// <param name="token">What <paramref name="owner"/> needs to end the lease (e.g. the open file it borrowed).</param>
    public FdLease(int fd, IFdLeaseOwner? owner = null, object? token = null)
    {
        Fd = fd;
        _owner = owner;
        _token = token;
    }

    public int Fd { get; }

    /// <summary>Ends the lease: the owner may close the fd from now on.</summary>
    public void Release() => _owner?.ReturnLease(_token);
}

/// <summary>Lends fds for file operations (the filesystem's handle table).</summary>
public interface IFdLeaseOwner
{
    /// <summary>Ends a lease; called through <see cref="FdLease.Release"/>.</summary>
    void ReturnLease(object? token);
}
