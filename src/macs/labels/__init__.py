"""macs.labels"""
