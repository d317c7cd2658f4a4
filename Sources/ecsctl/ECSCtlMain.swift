import ArgumentParser
import ECSCLI

/// ecsctl: the whole CLI lives in the ECSCLI library so tests can drive it.
@main
extension ECSCtl {}
