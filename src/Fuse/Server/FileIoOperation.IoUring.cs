using VirtioFsd.Linux;
using VirtioFsd.Linux.IoUring;

namespace VirtioFsd.Fuse.Server;

/// <summary>How a <see cref="FileIoOperation"/> is expressed as an io_uring submission, for every engine that uses a ring.</summary>
public static class FileIoRingSubmission
{
    /// <summary>
    /// Fills <paramref name="sqe"/> with the ring operation <paramref name="operation"/> stands for.
    /// <paramref name="iov"/> holds a native copy of the operation's vectors (the kernel reads the
    /// array itself at submission; the data it points at is the request's own memory).
    /// </summary>
    public static unsafe void Prepare(SubmissionEntry sqe, FileIoOperation operation, IoVec* iov, ulong userData)
    {
        ArgumentNullException.ThrowIfNull(operation);
        uint count = (uint)operation.Vectors.Length;
        switch (operation.Kind)
        {
            case FileIoKind.Read:
                // The data lands straight in the guest's buffers (the iovecs point into mapped guest memory).
                sqe.Readv(operation.Fd, iov, count, operation.Offset, userData);
                break;
            case FileIoKind.Write:
                sqe.Writev(operation.Fd, iov, count, operation.Offset, userData);
                break;
            case FileIoKind.Fsync:
            case FileIoKind.Fdatasync:
                sqe.Fsync(operation.Fd, operation.Kind == FileIoKind.Fdatasync, userData);
                break;
            default:
                sqe.Fallocate(operation.Fd, operation.Mode, operation.Offset, operation.Length, userData);
                break;
        }
        if (operation.PreferWorker)
        {
            sqe.SetFlags(IoUringConstants.SqeAsync);
        }
    }
}
