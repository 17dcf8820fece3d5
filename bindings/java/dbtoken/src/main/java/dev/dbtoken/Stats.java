package dev.dbtoken;

/** A client's refresh counters: token requests started, and how many failed. */
public record Stats(long refreshes, long failures) {}
