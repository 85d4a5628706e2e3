using Serilog;
using VirtioFsd.Fuse.Migration;
using VirtioFsd.Fuse.Passthrough;
using VirtioFsd.Fuse.Server;
using VirtioFsd.Fuse.Server.Migration;
using VirtioFsd.Linux;
using VirtioFsd.VhostUser;

namespace VirtioFsd.Device.Migration;

/// <summary>
/// The virtio-fs device's internal state for live migration, as one stream (docs/migration.md): the FUSE session the
/// guest negotiated, then the filesystem's nodes and open handles. Saved on the source, loaded on the destination
/// before its queues start; the guest sends no INIT and notices nothing.
/// </summary>
internal sealed class VirtioFsDeviceState : IDeviceState
{
    private readonly FuseServer _server;
    private readonly PassthroughFileSystem _fs;
    private readonly ILogger _log;

    public VirtioFsDeviceState(FuseServer server, PassthroughFileSystem fs, ILogger log)
    {
        _server = server;
        _fs = fs;
        _log = log.ForContext<VirtioFsDeviceState>();
    }

    /// <summary>1 GiB: 16 Mi nodes with paths of ~60 bytes; a bigger stream is refused unread.</summary>
    public long MaxStateBytes => 1L << 30;

    public byte[]? Save()
    {
        var writer = new StateWriter();
        FuseSessionState? session = _server.ExportSession();
        writer.Bool(session is not null);
        session?.Write(writer);
        string? problem = _fs.SaveState(writer);
        if (problem is not null)
        {
            _log.Error("Migration refused on the source: {Problem}; the guest keeps running here", problem);
            return null;
        }
        return writer.Finish();
    }

    public int Load(ReadOnlySpan<byte> state)
    {
        string? problem;
        try
        {
            var reader = new StateReader(state.ToArray());
            FuseSessionState? session = reader.Bool("session flag") ? FuseSessionState.Read(reader) : null;
            problem = session is null ? null : _server.CheckImport(session);
            problem ??= _fs.LoadState(reader);
            if (problem is null && session is not null && _server.Import(session) is { } refused)
            {
                _fs.Destroy();
                problem = refused;
            }
        }
        catch (StateFormatException e)
        {
            problem = $"malformed state: {e.Message}";
        }
        if (problem is not null)
        {
            _log.Error("Migration state refused: {Problem}", problem);
            return -Errno.EINVAL;
        }
        return 0;
    }
}
