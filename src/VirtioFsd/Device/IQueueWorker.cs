namespace VirtioFsd.Device;

/// <summary>Serves one started virtqueue until stopped; one per queue, whatever the I/O engine.</summary>
internal interface IQueueWorker : IDisposable
{
    void Start();

    /// <summary>
    /// Stops serving and returns only when no request of this queue is in flight any more: nothing
    /// (no thread, no kernel operation) touches the queue's guest memory after it returns.
    /// </summary>
    void Stop();
}
