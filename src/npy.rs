//! numpy .npy files (placeholder: being written).
