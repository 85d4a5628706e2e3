namespace VirtioFsd.Tests.Fuzz;

/// <summary>
/// The fuzz runs check that a case leaves this process's fd table as it found it, which only means
/// something while no other test opens or closes descriptors: they run alone.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class FuzzCollection
{
    public const string Name = "Fuzz targets (alone: they compare the process's fd table)";
}
