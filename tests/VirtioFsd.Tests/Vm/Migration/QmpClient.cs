using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace VirtioFsd.Tests.Vm.Migration;

/// <summary>
/// A QEMU Machine Protocol client over QEMU's -qmp unix socket (docs/interop/qmp-spec.rst): a greeting, then
/// qmp_capabilities, then one JSON command per line whose answer is the next line holding "return" or "error"
/// (asynchronous "event" lines in between are skipped).
/// </summary>
internal sealed class QmpClient : IDisposable
{
    private readonly Socket _socket;
    private readonly StreamReader _reader;
    private readonly StreamWriter _writer;

    private QmpClient(Socket socket)
    {
        _socket = socket;
        var stream = new NetworkStream(socket, ownsSocket: false);
        _reader = new StreamReader(stream, Encoding.UTF8);
        _writer = new StreamWriter(stream, new UTF8Encoding(false)) { AutoFlush = true, NewLine = "\n" };
    }

    /// <summary>Connects once QEMU listens (it creates the socket early in its start-up), within <paramref name="timeout"/>.</summary>
    public static async Task<QmpClient> ConnectAsync(string path, TimeSpan timeout)
    {
        DateTime deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                await socket.ConnectAsync(new UnixDomainSocketEndPoint(path));
                var client = new QmpClient(socket);
                await client._reader.ReadLineAsync(); // greeting
                await client.ExecuteAsync("qmp_capabilities");
                return client;
            }
            catch (SocketException) when (DateTime.UtcNow < deadline)
            {
                socket.Dispose();
                await Task.Delay(100);
            }
        }
    }

    /// <summary>Runs a command; returns its "return" value, or throws with QEMU's error.</summary>
    public async Task<JsonElement> ExecuteAsync(string command, string? argumentsJson = null)
    {
        string request = argumentsJson is null
            ? $"{{\"execute\":\"{command}\"}}"
            : $"{{\"execute\":\"{command}\",\"arguments\":{argumentsJson}}}";
        await _writer.WriteLineAsync(request);
        while (true)
        {
            string line = await _reader.ReadLineAsync() ?? throw new IOException($"QMP closed while waiting for {command}");
            using JsonDocument doc = JsonDocument.Parse(line);
            if (doc.RootElement.TryGetProperty("return", out JsonElement result))
            {
                return result.Clone();
            }
            if (doc.RootElement.TryGetProperty("error", out JsonElement error))
            {
                throw new InvalidOperationException($"QMP {command}: {error}");
            }
        }
    }

    /// <summary>query-status's "status" (running, paused, postmigrate, inmigrate...).</summary>
    public async Task<string> StatusAsync() => (await ExecuteAsync("query-status")).GetProperty("status").GetString() ?? "";

    public void Dispose()
    {
        _reader.Dispose();
        _writer.Dispose();
        _socket.Dispose();
    }
}
