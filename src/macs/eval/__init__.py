"""macs.eval"""
