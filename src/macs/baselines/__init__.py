"""macs.baselines"""
