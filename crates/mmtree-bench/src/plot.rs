//! Plots of a run's JSON (to be written).
