using VirtioFsd.Fuse.FileSystem;
using VirtioFsd.Fuse.Passthrough;
using VirtioFsd.Linux;
using VirtioFsd.Linux.IoEngine;

namespace VirtioFsd.Fuse.Tests.Passthrough;

/// <summary>
/// The passthrough's file data and lock calls through the synchronous engine, whose results are complete on return:
/// what most filesystem tests need, without a transport.
/// </summary>
internal static class SynchronousCalls
{
    public static long Read(this PassthroughFileSystem fs, in RequestContext ctx, NodeId node, HandleId handle, ulong offset,
        ReadOnlySpan<IoVec> destination)
        => Completed(fs.Read(ctx, node, handle, offset, destination, SyncFileIo.Instance));

    public static long Write(this PassthroughFileSystem fs, in RequestContext ctx, NodeId node, HandleId handle, ulong offset,
        ReadOnlySpan<IoVec> source, uint writeFlags, bool killPrivileges)
        => Completed(fs.Write(ctx, node, handle, offset, source, writeFlags, killPrivileges, SyncFileIo.Instance));

    public static int Fsync(this PassthroughFileSystem fs, in RequestContext ctx, NodeId node, HandleId handle, bool dataSync)
        => Completed(fs.Fsync(ctx, node, handle, dataSync, SyncFileIo.Instance));

    public static int FsyncDir(this PassthroughFileSystem fs, in RequestContext ctx, NodeId node, HandleId handle, bool dataSync)
        => Completed(fs.FsyncDir(ctx, node, handle, dataSync, SyncFileIo.Instance));

    public static int Fallocate(this PassthroughFileSystem fs, in RequestContext ctx, NodeId node, HandleId handle, uint mode,
        ulong offset, ulong length)
        => Completed(fs.Fallocate(ctx, node, handle, mode, offset, length, SyncFileIo.Instance));

    /// <summary>A lock call that does not wait (SETLK): complete on return.</summary>
    public static int SetLock(this PassthroughFileSystem fs, in RequestContext ctx, NodeId node, HandleId handle, ulong owner,
        in FileLock request, bool wait, bool isFlock)
    {
        Assert.False(wait, "a waiting lock completes later: call SetLock with a CancellationToken and await it");
        return Completed(fs.SetLock(ctx, node, handle, owner, request, wait, isFlock, CancellationToken.None));
    }

    private static T Completed<T>(ValueTask<T> result)
    {
        Assert.True(result.IsCompleted, "the synchronous engine completes every call before it returns");
        return result.Result;
    }
}
