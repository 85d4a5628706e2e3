namespace VirtioFsd.Linux.IoEngine;

/// <summary>What ended an <see cref="IIoEngine.Wait"/>; several flags at once are possible.</summary>
[Flags]
public enum EngineWake
{
    /// <summary>Only completions (already run) or the timeout.</summary>
    None = 0,

    /// <summary>The stop fd is readable.</summary>
    Stop = 1,

    /// <summary>The wake fd (e.g. a virtqueue's kick eventfd) is readable; the caller consumes its event.</summary>
    Wake = 2,

    /// <summary>The wake fd reported an error (POLLERR/POLLNVAL) and is no longer watched.</summary>
    WakeFdFailed = 4,
}

/// <summary>
/// The I/O engine of one serving thread: it moves file data (<see cref="IFileIo"/>) and is the thread's sleep, so
/// that one wait covers the thread's wake-up fds (a stop request, a virtqueue kick) and its file operations in
/// flight. Only the owning thread (the one that first calls <see cref="Wait"/>) waits and drains; IFileIo calls
/// from other threads run synchronously.
/// </summary>
public interface IIoEngine : IFileIo, IDisposable
{
    /// <summary>The engine's name for the logs ("io_uring", "synchronous"): GetType().Name would go through NativeAOT's reflection.</summary>
    string Name { get; }

    /// <summary>File operations submitted and not yet completed.</summary>
    int InFlight { get; }

    /// <summary>
    /// Sets the fds <see cref="Wait"/> watches: <paramref name="stopFd"/> and, unless negative, <paramref name="wakeFd"/>.
    /// Called once, on the owning thread, before the first wait.
    /// </summary>
    void Watch(int stopFd, int wakeFd);

    /// <summary>
    /// Sleeps until a watched fd is readable, a file operation completes (its continuation runs inside this call,
    /// on this thread) or <paramref name="timeout"/> passes (null: no limit). Returns what woke it. A wait that
    /// fails for good (not EINTR, which is retried) returns <see cref="EngineWake.Stop"/> with <see cref="LastError"/> set.
    /// </summary>
    EngineWake Wait(TimeSpan? timeout);

    /// <summary>The errno of the wait that ended the engine, or 0.</summary>
    int LastError { get; }

    /// <summary>
    /// Cancels every file operation in flight and waits until each has completed (its continuation ran, with its
    /// result or -ECANCELED). Afterwards the kernel touches none of their buffers.
    /// </summary>
    void Drain();
}
